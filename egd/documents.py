"""Reading the input of `egd apply -f` and `egd translate -f`: files, directories or stdin, as multi-document
YAML or JSON, into documents that know where they came from; then decoding them all at once.

As with `kubectl -f` (without `-R`): a directory means its `*.yaml`, `*.yml` and `*.json` files, sorted by name,
not its subdirectories; `-` means standard input. Empty documents are skipped, and a `kind: List` (or any
`...List` with `items`) stands for its items.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import msgspec
import yaml

from events.keys import ResourceKey
from projections.errors import InvalidDocumentError, InvalidDocumentsError
from projections.resources.decode import DecodedResource, decode_resource, describe_document

STDIN = "-"
STDIN_NAME = "<stdin>"
DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(_BaseLoader):  # type: ignore[valid-type, misc]
    """YAML as Kubernetes reads it: timestamps stay strings (a document must round-trip through JSON)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class DocumentSource(msgspec.Struct, frozen=True, kw_only=True):
    """Where a document came from: file (or `<stdin>`), document number and line, both from 1; `item` is the
    place of an object inside a `kind: List` document. `line` is None where the format does not tell (JSON)."""

    path: str
    index: int
    line: int | None = None
    item: int | None = None

    def __str__(self) -> str:
        line = f" (line {self.line})" if self.line is not None else ""
        if self.item is None:
            return f"{self.path}, document {self.index}{line}"
        return f"{self.path}, document {self.index}, item {self.item}{line}"


class SourcedDocument(msgspec.Struct, frozen=True, kw_only=True):
    source: DocumentSource
    document: Any  # as parsed; decode_documents checks that it is a mapping


def read_documents(target: str, *, stdin: TextIO | None = None) -> list[SourcedDocument]:
    """Every document of a file, of a directory's document files, or of standard input (`-`)."""
    if target == STDIN:
        return parse_documents((stdin or sys.stdin).read(), STDIN_NAME)
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in DOCUMENT_SUFFIXES and p.is_file())
        return [doc for file in files for doc in parse_documents(_read_text(file), str(file))]
    return parse_documents(_read_text(path), target)


def parse_documents(text: str, path: str) -> list[SourcedDocument]:
    """The documents of one file's text: JSON for `*.json`, else YAML (or JSON, when the text looks like it)."""
    if path.endswith(".json"):
        return _parse_json(text, path)
    if text.lstrip()[:1] in ("{", "["):
        try:
            return _parse_json(text, path)
        except InvalidDocumentError:
            pass  # not one JSON value: maybe YAML in flow style, or several JSON objects; YAML says which
    return _parse_yaml(text, path)


def decode_documents(
    sourced: Iterable[SourcedDocument], *, default_namespace: str = "default"
) -> list[DecodedResource]:
    """Decode every document, or raise InvalidDocumentsError listing every bad one (and every resource given
    more than once) so that nothing is applied from an input that is partly wrong."""
    decoded: list[DecodedResource] = []
    errors: list[InvalidDocumentError] = []
    first_seen: dict[ResourceKey, DocumentSource] = {}
    for item in sourced:
        position = str(item.source)
        try:
            resource = decode_resource(item.document, position, default_namespace=default_namespace)
        except InvalidDocumentError as exc:
            errors.append(exc)
            continue
        earlier = first_seen.setdefault(resource.key, item.source)
        if earlier is not item.source:
            where = describe_document(item.document, position, default_namespace=default_namespace)
            errors.append(InvalidDocumentError(where, "$.metadata.name", f"the same resource as {earlier}"))
            continue
        decoded.append(resource)
    if errors:
        raise InvalidDocumentsError(errors)
    return decoded


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidDocumentError(str(path), "", "no such file or directory") from None
    except UnicodeDecodeError as exc:
        raise InvalidDocumentError(str(path), "", f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InvalidDocumentError(str(path), "", f"cannot be read: {exc.strerror}") from None


def _parse_yaml(text: str, path: str) -> list[SourcedDocument]:
    loader = _Loader(text)
    out: list[SourcedDocument] = []
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            document = loader.construct_document(node)
            if document is None:
                continue
            source = DocumentSource(path=path, index=index, line=node.start_mark.line + 1)
            out.extend(_expand_list(document, source, _item_lines(node)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1} column {mark.column + 1}" if mark else path
        problem = exc.problem or "cannot be parsed"
        context = f" {exc.context}" if exc.context else ""
        raise InvalidDocumentError(where, "", f"malformed YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise InvalidDocumentError(path, "", f"malformed YAML: {exc}") from None
    finally:
        loader.dispose()
    return out


def _item_lines(node: yaml.Node) -> list[int]:
    """The line of each element of a mapping node's `items` sequence, if it has one."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
            return [child.start_mark.line + 1 for child in value.value]
    return []


def _parse_json(text: str, path: str) -> list[SourcedDocument]:
    try:
        document = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise InvalidDocumentError(path, "", f"malformed JSON: {_json_problem(str(exc), text)}") from None
    if document is None:
        return []
    return _expand_list(document, DocumentSource(path=path, index=1, line=1), [])


def _json_problem(message: str, text: str) -> str:
    """msgspec says `... (byte N)`; people want a line and column."""
    head, sep, tail = message.rpartition(" (byte ")
    if not sep or not tail.endswith(")") or not tail[:-1].isdigit():
        return message
    offset = int(tail[:-1])
    prefix = text.encode("utf-8")[:offset].decode("utf-8", errors="replace")
    line = prefix.count("\n") + 1
    column = offset - (prefix.rfind("\n") + 1) + 1 if "\n" in prefix else offset + 1
    return f"{head.removeprefix('JSON is malformed: ')} at line {line} column {column}"


def _expand_list(document: Any, source: DocumentSource, item_lines: list[int]) -> list[SourcedDocument]:
    kind = document.get("kind") if isinstance(document, dict) else None
    items = document.get("items") if isinstance(document, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        return [SourcedDocument(source=source, document=document)]
    return [
        SourcedDocument(
            source=msgspec.structs.replace(source, item=n + 1, line=item_lines[n] if n < len(item_lines) else None),
            document=item,
        )
        for n, item in enumerate(items)
    ]
