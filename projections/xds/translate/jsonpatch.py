"""RFC 6902 JSON Patch over plain JSON values (dicts, lists, scalars), with RFC 6901 JSON pointers.

`apply_operation` changes the document in place and returns it (a patch of the whole document, path "",
returns the new one); a failed operation raises `PatchError` and may leave the document half-changed, so
callers patch a copy.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """An operation that does not apply to the document (missing path, failed test, bad index)."""


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool = False) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"{token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise PatchError(f"index {index} is out of range (length {len(container)})")
    return index


def _parent(document: Any, tokens: list[str], pointer: str) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {pointer!r}: {token!r} not found")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token)]
        else:
            raise PatchError(f"path {pointer!r}: {token!r} is inside a scalar")
    return node


def get_value(document: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return document
    parent = _parent(document, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} not found")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last)]
    raise PatchError(f"path {pointer!r} not found")


def _add(document: Any, pointer: str, value: Any) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        return value
    parent = _parent(document, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError(f"path {pointer!r}: the parent is not an object or array")
    return document


def _remove(document: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError("removing the whole document is not supported")
    parent = _parent(document, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {pointer!r} not found")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last)]
    else:
        raise PatchError(f"path {pointer!r} not found")
    return document


def apply_operation(document: Any, op: str, path: str, value: Any = None, from_path: str | None = None) -> Any:
    """`document` after one operation."""
    if op == "add":
        return _add(document, path, copy.deepcopy(value))
    if op == "remove":
        return _remove(document, path)
    if op == "replace":
        get_value(document, path)  # must exist
        if not _tokens(path):
            return copy.deepcopy(value)
        return _add(_remove(document, path), path, copy.deepcopy(value))
    if op in ("move", "copy"):
        if from_path is None:
            raise PatchError(f"a {op} operation needs from")
        moved = copy.deepcopy(get_value(document, from_path))
        if op == "move":
            if path.startswith(from_path + "/"):
                raise PatchError("cannot move a value into one of its children")
            document = _remove(document, from_path)
        return _add(document, path, moved)
    if op == "test":
        if get_value(document, path) != value:
            raise PatchError(f"test failed: the value at {path!r} differs")
        return document
    raise PatchError(f"unknown operation {op!r}")
