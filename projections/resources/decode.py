"""Decoding a Kubernetes-style document into its kind, key and typed model, with errors that name the
document and the JSON path of the bad field."""

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


class DecodedResource(msgspec.Struct, frozen=True, kw_only=True):
    info: KindInfo
    key: ResourceKey
    model: msgspec.Struct


def describe_document(doc: object, position: str) -> str:
    """How an error names a document: `HTTPRoute default/web (file.yaml, document 3)`."""
    if isinstance(doc, dict):
        kind = doc.get("kind") or "<no kind>"
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        name = meta.get("name") or "<no name>"
        namespace = meta.get("namespace")
        who = f"{namespace}/{name}" if namespace else f"{name}"
        return f"{kind} {who} ({position})"
    return position


def decode_resource(doc: Any, position: str, *, default_namespace: str = "default") -> DecodedResource:
    """Validate `doc` as a resource of a kind egd accepts; `position` says where it came from."""
    where = describe_document(doc, position)
    if not isinstance(doc, dict):
        raise InvalidDocumentError(where, "$", f"a document must be a mapping, got {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InvalidDocumentError(where, "$.kind", "is required")
    if not isinstance(api_version, str) or not api_version:
        raise InvalidDocumentError(where, "$.apiVersion", "is required")
    info = REGISTRY.by_kind(kind)
    if info is None:
        known = ", ".join(sorted(i.kind for i in REGISTRY.kinds))
        raise InvalidDocumentError(where, "$.kind", f"unknown kind {kind!r}; egd accepts {known}")
    if not info.accepts_api_version(api_version):
        wanted = ", ".join(f"{info.group}/{v}" if info.group else v for v in info.versions)
        raise InvalidDocumentError(where, "$.apiVersion", f"{api_version!r} is not served for {kind}: {wanted}")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise InvalidDocumentError(where, "$.metadata", "is required and must be a mapping")
    name = meta.get("name")
    if not isinstance(name, str):
        raise InvalidDocumentError(where, "$.metadata.name", "is required and must be a string")
    problem = name_problem(name)
    if problem:
        raise InvalidDocumentError(where, "$.metadata.name", problem)
    namespace = meta.get("namespace", default_namespace if info.namespaced else "")
    if info.namespaced:
        if not isinstance(namespace, str):
            raise InvalidDocumentError(where, "$.metadata.namespace", "must be a string")
        problem = name_problem(namespace, label=True)
        if problem:
            raise InvalidDocumentError(where, "$.metadata.namespace", problem)
    elif namespace:
        raise InvalidDocumentError(where, "$.metadata.namespace", f"{kind} is cluster-scoped and has no namespace")
    try:
        model = msgspec.convert(doc, type=info.model, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT_PATH.search(message)
        path = match.group("path") if match else "$"
        raise InvalidDocumentError(where, path, _AT_PATH.sub("", message)) from exc
    key = ResourceKey(group=info.group, kind=info.kind, namespace=namespace if info.namespaced else "", name=name)
    return DecodedResource(info=info, key=key, model=model)
