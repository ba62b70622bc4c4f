"""No integer that passes validation breaks the xDS build: every integer field of every golden input, set to a
value out of the range of the Envoy field it ends up in (negative, or past 32 bits), is either refused when the
document is decoded (an InvalidDocumentError naming the field) or built. A value Envoy's protobuf cannot hold
once crashed the daemon, and again on every restart, since the event stays in the log."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from projections.errors import InvalidDocumentError
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.xds.translate import build_resource_set

GOLDEN = Path(__file__).parents[2] / "testdata" / "xds"
OUT_OF_RANGE = (-1, 2**32)
IGNORED = {"generation"}  # metadata, not configuration


def integer_paths(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, bool):
        return
    if isinstance(node, int):
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in IGNORED:
                yield from integer_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from integer_paths(value, (*path, index))


def with_value(documents: list[Any], path: tuple[str | int, ...], value: int) -> list[Any]:
    changed = copy.deepcopy(documents)
    node = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def cases() -> Iterator[Any]:
    for source in sorted(GOLDEN.glob("*.in.yaml")):
        documents = [d for d in yaml.safe_load_all(source.read_text()) if d]
        for path in integer_paths(documents):
            yield pytest.param(source.name, documents, path, id=f"{source.stem}:{'.'.join(map(str, path))}")


@pytest.mark.parametrize(("source", "documents", "path"), list(cases()))
def test_an_integer_out_of_range_is_refused_or_built(source: str, documents: list[Any], path: tuple[Any, ...]) -> None:
    field = f"[{path[-1]}]" if isinstance(path[-1], int) else f".{path[-1]}"
    for value in OUT_OF_RANGE:
        changed = with_value(documents, path, value)
        try:
            resources = resources_from_documents((d, f"{source} document {i + 1}") for i, d in enumerate(changed))
        except InvalidDocumentError as refused:
            problem = str(refused)
        else:
            for gateway in translate(resources).gateways.values():
                build_resource_set(gateway)
            continue
        assert field in problem, problem  # the error names the field
