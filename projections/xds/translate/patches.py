"""EnvoyPatchPolicy on generated xDS: each policy's JSON patches applied to the proto3 JSON of the resources
they name (field names as in the .proto, as Envoy Gateway writes them), then read back as the resource type.

A policy applies as a whole or not at all: when one of its operations fails (a missing path, a value that is
not valid for the type), none of its changes are kept and its outcome says why; the other policies and every
other resource are unaffected. An `add` at path "" of a resource that does not exist creates it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

from projections import ir
from projections.xds.resources import TYPE_PREFIX, VersionedResource, versioned
from projections.xds.translate.jsonpatch import PatchError, apply_operation

ByType = dict[str, dict[str, VersionedResource]]


def _message_class(type_url: str) -> type[Message]:
    descriptor = descriptor_pool.Default().FindMessageTypeByName(type_url.removeprefix(TYPE_PREFIX))
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def _as_json(resource: VersionedResource, type_url: str) -> Any:
    packed = any_pb2.Any.FromString(resource.body)
    message = _message_class(type_url).FromString(packed.value)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _from_json(document: Any, type_url: str) -> Message:
    try:
        return json_format.ParseDict(document, _message_class(type_url)())
    except json_format.ParseError as exc:
        first_line = str(exc).split("\n", 1)[0]
        raise PatchError(
            f"the patched resource is not a valid {type_url.removeprefix(TYPE_PREFIX)}: {first_line}"
        ) from exc


def _apply_policy(
    by_type: Mapping[str, Mapping[str, VersionedResource]], patches: list[ir.EnvoyPatch]
) -> dict[tuple[str, str], VersionedResource]:
    """The resources one policy changes (raises PatchError when any operation fails)."""
    documents: dict[tuple[str, str], Any] = {}
    for patch in patches:
        key = (patch.type_url, patch.name)
        if key not in documents:
            existing = by_type.get(patch.type_url, {}).get(patch.name)
            if existing is None and not (patch.op == "add" and patch.path == ""):
                kind = patch.type_url.removeprefix(TYPE_PREFIX).rsplit(".", 1)[-1]
                raise PatchError(f"no {kind} named {patch.name!r} in the generated configuration")
            documents[key] = _as_json(existing, patch.type_url) if existing is not None else None
        value = json.loads(patch.value) if patch.value is not None else None
        documents[key] = apply_operation(documents[key], patch.op, patch.path, value, patch.from_path)
    changed: dict[tuple[str, str], VersionedResource] = {}
    for (type_url, name), document in documents.items():
        resource = versioned(_from_json(document, type_url))
        if resource.name != name:
            raise PatchError(f"a patch may not rename {name!r} (to {resource.name!r})")
        changed[(type_url, name)] = resource
    return changed


def apply_patches(by_type: ByType, patches: tuple[ir.EnvoyPatch, ...]) -> tuple[ByType, dict[str, str | None]]:
    """`by_type` with the patches applied (types without change keep their mapping), and per policy
    (`<namespace>/<name>`) None when it applied or why it did not."""
    outcomes: dict[str, str | None] = {}
    grouped: dict[str, list[ir.EnvoyPatch]] = {}
    for patch in patches:
        grouped.setdefault(patch.policy, []).append(patch)
    result: ByType = dict(by_type)
    copied: set[str] = set()
    for policy, operations in grouped.items():  # dicts keep the IR's order: priority, then name
        try:
            changed = _apply_policy(result, operations)
        except PatchError as exc:
            outcomes[policy] = str(exc)
            continue
        outcomes[policy] = None
        for (type_url, name), resource in changed.items():
            if type_url not in copied:
                result[type_url] = dict(result.get(type_url, {}))
                copied.add(type_url)
            result[type_url][name] = resource
    return result, outcomes
