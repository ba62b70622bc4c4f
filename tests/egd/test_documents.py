"""Reading `-f` input: files, directories and stdin; YAML and JSON; positions; every bad document reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egd.documents import DocumentSource, decode_documents, parse_documents, read_documents
from projections.errors import InvalidDocumentError, InvalidDocumentsError


def cm(name: str, namespace: str | None = None) -> str:
    """A ConfigMap document; the name is quoted, since YAML 1.1 reads a bare `on` or `no` as a boolean."""
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{name}'{ns}\ndata:\n  k: v\n"


def test_multi_document_yaml_skips_empty_documents_and_keeps_positions(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text("# leading comment\n" + cm("a") + "---\n---\n# only a comment\n---\n" + cm("b"))
    docs = read_documents(str(path))
    assert [d.document["metadata"]["name"] for d in docs] == ["a", "b"]
    assert [str(d.source) for d in docs] == [f"{path}, document 1 (line 2)", f"{path}, document 4 (line 12)"]


def test_a_list_stands_for_its_items(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n"
    )
    docs = read_documents(str(path))
    assert [d.document["metadata"]["name"] for d in docs] == ["a", "b"]
    assert [str(d.source) for d in docs] == [
        f"{path}, document 1, item 1 (line 4)",
        f"{path}, document 1, item 2 (line 5)",
    ]


def test_json_files_and_json_lists(tmp_path: Path) -> None:
    path = tmp_path / "objs.json"
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}} for n in ("a", "b")]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    docs = read_documents(str(path))
    assert [d.document for d in docs] == items
    assert str(docs[1].source) == f"{path}, document 1, item 2"


def test_a_directory_means_its_document_files_sorted_and_not_recursive(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(cm("from-b"))
    (tmp_path / "a.yaml").write_text(cm("from-a"))
    (tmp_path / "c.json").write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    (tmp_path / "notes.txt").write_text("not a document")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text(cm("nested"))
    docs = read_documents(str(tmp_path))
    assert [d.document["metadata"]["name"] for d in docs] == ["from-a", "from-b", "c"]


def test_dash_reads_stdin_yaml_or_json() -> None:
    yaml_docs = read_documents("-", stdin=io.StringIO(cm("a") + "---\n" + cm("b")))
    assert [d.source.path for d in yaml_docs] == ["<stdin>", "<stdin>"]
    json_docs = read_documents("-", stdin=io.StringIO('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}'))
    assert json_docs[0].document["kind"] == "ConfigMap"


def test_timestamps_stay_strings_as_kubernetes_reads_them() -> None:
    doc = parse_documents("metadata:\n  creationTimestamp: 2024-01-01T00:00:00Z\n", "t.yaml")[0].document
    assert doc["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.yaml",
            "a: 1\nb: [1, 2\nc: 3\n",
            "bad.yaml, line 3 column 2: malformed YAML: did not find expected ',' or ']' while parsing a flow sequence",
        ),
        (
            "bad.yaml",
            "a: 1\n  b: 2\n",
            "bad.yaml, line 2 column 4: malformed YAML: mapping values are not allowed in this context",
        ),
        ("bad.json", '{"a": 1,\n "b": }', "bad.json: malformed JSON: invalid character at line 2 column 7"),
    ],
)
def test_malformed_input_names_the_file_and_line(name: str, text: str, expected: str) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        parse_documents(text, name)
    assert str(caught.value) == expected


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDocumentError, match="no such file or directory"):
        read_documents(str(tmp_path / "nope.yaml"))


def test_decode_documents_reports_every_bad_document_and_duplicates() -> None:
    text = (
        cm("good")
        + "---\n"
        + "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: x}]\n"
        + "---\n"
        + "apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n"
        + "---\n"
        + cm("good", "default")
    )
    with pytest.raises(InvalidDocumentsError) as caught:
        decode_documents(parse_documents(text, "in.yaml"))
    assert [str(e) for e in caught.value.errors] == [
        "Service default/web at in.yaml, document 2 (line 8): $.spec.ports[0].port: Expected `int`, got `str`",
        caught.value.errors[1].document + ": $.kind: " + caught.value.errors[1].message,
        "ConfigMap default/good at in.yaml, document 4 (line 18): $.metadata.name: the same resource as in.yaml, "
        "document 1 (line 1)",
    ]
    assert caught.value.errors[1].message.startswith("unknown kind 'Gizmo'; egd accepts ")
    assert str(caught.value).startswith("3 invalid documents:\n  Service default/web at in.yaml")


def test_one_bad_document_reads_as_itself() -> None:
    with pytest.raises(InvalidDocumentsError) as caught:
        decode_documents(parse_documents("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: A}\n", "x.yaml"))
    assert str(caught.value).startswith("ConfigMap default/A at x.yaml, document 1 (line 1): $.metadata.name: 'A'")


def test_the_same_name_in_other_namespaces_or_kinds_is_no_duplicate() -> None:
    text = "---\n".join(
        [cm("a", "one"), cm("a", "two"), "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: one}\n"]
    )
    decoded = decode_documents(parse_documents(text, "x.yaml"))
    assert [str(d.key) for d in decoded] == ["ConfigMap/one/a", "ConfigMap/two/a", "Secret/one/a"]
    assert decoded[0].position == "x.yaml, document 1 (line 1)"


names = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)


@given(
    st.lists(st.tuples(names, st.integers(min_value=0, max_value=3)), min_size=1, max_size=8, unique_by=lambda t: t[0])
)
def test_document_numbers_and_lines_point_at_each_document(specs: list[tuple[str, int]]) -> None:
    """Whatever blank lines and comments come between, each document's position points at its first line."""
    parts, expected = [], []
    line = 1
    for index, (name, padding) in enumerate(specs, start=1):
        block = "# note\n" * padding + cm(name)
        if index > 1:
            parts.append("---\n")
            line += 1
        expected.append(DocumentSource(path="p.yaml", index=index, line=line + padding))
        parts.append(block)
        line += block.count("\n")
    docs = parse_documents("".join(parts), "p.yaml")
    assert [d.source for d in docs] == expected
    assert [d.document["metadata"]["name"] for d in docs] == [name for name, _ in specs]
