"""Decoding a Kubernetes-style document into its kind, key and typed model, with errors that name the
document and the JSON path of the bad field.

Models ignore fields they do not name (the stored event keeps the whole document), but the fields they name
are checked strictly: types, enums, ranges, patterns and the cross-field rules of each kind.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from events.keys import ResourceKey
from projections.errors import InvalidDocumentError
from projections.resources.kinds import REGISTRY
from projections.resources.meta import name_problem
from projections.resources.registry import KindInfo

_AT_PATH = re.compile(r" - at `(?P<path>[^`]*)`$")
_PATTERN_END = re.compile(r"\\\\Z(['\"])$")  # a pattern's \Z as msgspec quotes it, at the end of its message


class DecodedResource(msgspec.Struct, frozen=True, kw_only=True):
    info: KindInfo
    key: ResourceKey
    model: msgspec.Struct
    document: dict[str, Any] = {}  # as submitted: what the event stores
    position: str = ""  # where the document came from: `routes.yaml, document 3 (line 20)`


def describe_document(doc: object, position: str, *, default_namespace: str = "default") -> str:
    """How an error names a document: `HTTPRoute default/web at routes.yaml, document 3 (line 20)`.

    A namespaced kind without `metadata.namespace` is shown in `default_namespace`, where it would land.
    """
    if not isinstance(doc, dict):
        return position
    kind = doc.get("kind")
    kind_text = kind if isinstance(kind, str) and kind else "<no kind>"
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    name_text = name if isinstance(name, str) and name else "<no name>"
    namespace = meta.get("namespace")
    if namespace is None and isinstance(kind, str):
        info = REGISTRY.by_kind(kind)
        namespace = default_namespace if info is not None and info.namespaced else None
    who = f"{namespace}/{name_text}" if isinstance(namespace, str) and namespace else name_text
    return f"{kind_text} {who} at {position}" if position else f"{kind_text} {who}"


def decode_resource(doc: Any, position: str, *, default_namespace: str = "default") -> DecodedResource:
    """Validate `doc` as a resource of a kind egd accepts; `position` says where it came from."""
    try:
        return _decode(doc, position, default_namespace)
    except _ProblemError as problem:
        where = describe_document(doc, position, default_namespace=default_namespace)
        raise InvalidDocumentError(where, problem.path, problem.message) from problem.__cause__


class _ProblemError(Exception):
    """What is wrong, before the document's description (costly to build) is known to be needed."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def _decode(doc: Any, position: str, default_namespace: str) -> DecodedResource:
    if not isinstance(doc, dict):
        raise _ProblemError("$", f"a document must be a mapping, got {_json_type(doc)}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise _ProblemError("$.kind", "is required" if kind is None else "must be a non-empty string")
    if not isinstance(api_version, str) or not api_version:
        raise _ProblemError("$.apiVersion", "is required" if api_version is None else "must be a non-empty string")
    info = REGISTRY.by_kind(kind)
    if info is None:
        known = ", ".join(sorted(i.kind for i in REGISTRY.kinds))
        raise _ProblemError("$.kind", f"unknown kind {kind!r}; egd accepts {known}")
    if not info.accepts_api_version(api_version):
        wanted = ", ".join(f"{info.group}/{v}" if info.group else v for v in info.versions)
        raise _ProblemError("$.apiVersion", f"{api_version!r} is not served for {kind}: {wanted}")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise _ProblemError(
            "$.metadata", "is required" if meta is None else f"must be a mapping, got {_json_type(meta)}"
        )
    name = meta.get("name")
    if not isinstance(name, str):
        raise _ProblemError(
            "$.metadata.name", "is required" if name is None else f"must be a string, got {_json_type(name)}"
        )
    problem = name_problem(name, name_format=info.name_format)
    if problem:
        raise _ProblemError("$.metadata.name", problem)
    namespace = meta.get("namespace")
    key_namespace = ""
    if info.namespaced:
        if namespace is None:
            namespace = default_namespace
        if not isinstance(namespace, str):
            raise _ProblemError("$.metadata.namespace", f"must be a string, got {_json_type(namespace)}")
        problem = name_problem(namespace, name_format="dns1123-label")
        if problem:
            raise _ProblemError("$.metadata.namespace", problem)
        key_namespace = namespace
    elif namespace:
        raise _ProblemError("$.metadata.namespace", f"{kind} is cluster-scoped and has no namespace")
    try:
        model = msgspec.convert(doc, type=info.model, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT_PATH.search(message)
        path = match.group("path") if match else "$"
        # patterns end with \Z, not $ (which also matches before a final newline): shown as the $ people read
        raise _ProblemError(path, _PATTERN_END.sub(r"$\1", _AT_PATH.sub("", message))) from exc
    key = ResourceKey(group=info.group, kind=info.kind, namespace=key_namespace, name=name)
    return DecodedResource(info=info, key=key, model=model, document=doc, position=position)


def _json_type(value: object) -> str:
    """The JSON name of a value's type, as a document's author sees it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
