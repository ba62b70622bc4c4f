"""What changed between two points (or between now and a planned change): objects created, changed and
deleted with a field-level diff, statuses that changed, and per Gateway the xDS resources added, changed
and removed. Pure; `egd diff`, `egd apply --dry-run` and `egd revert --dry-run` print it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from events.keys import ResourceKey
from projections.xds.resources import ResourceSet, diff

FieldOp = Literal["added", "removed", "changed"]


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    """One leaf that differs, at a JSONPath-like `path` (`spec.rules[0].matches[0].path.value`)."""

    path: str
    op: FieldOp
    before: Any = None
    after: Any = None


class ObjectChange(msgspec.Struct, frozen=True, kw_only=True):
    resource: str
    change: Literal["created", "changed", "deleted"]
    fields: tuple[FieldChange, ...] = ()


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    resource: str
    fields: tuple[FieldChange, ...]


class TypeChange(msgspec.Struct, frozen=True, kw_only=True):
    type_url: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class GatewayXdsChange(msgspec.Struct, frozen=True, kw_only=True):
    gateway: str
    change: Literal["added", "changed", "removed"]
    types: tuple[TypeChange, ...]


def field_changes(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """The leaves that differ between two JSON-like values. Lists (and tuples) are compared index by index;
    a list whose length changed is reported per extra or missing item."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in before:
                out.append(FieldChange(path=sub, op="added", after=after[key]))
            elif key not in after:
                out.append(FieldChange(path=sub, op="removed", before=before[key]))
            else:
                out += field_changes(before[key], after[key], sub)
        return out
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        out = []
        for i in range(max(len(before), len(after))):
            sub = f"{path}[{i}]"
            if i >= len(before):
                out.append(FieldChange(path=sub, op="added", after=after[i]))
            elif i >= len(after):
                out.append(FieldChange(path=sub, op="removed", before=before[i]))
            else:
                out += field_changes(before[i], after[i], sub)
        return out
    return [FieldChange(path=path, op="changed", before=before, after=after)]


def compare_objects(
    before: Mapping[ResourceKey, dict[str, Any]], after: Mapping[ResourceKey, dict[str, Any]]
) -> list[ObjectChange]:
    """Objects (documents as applied) created, changed and deleted, by key."""
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            out.append(ObjectChange(resource=str(key), change="created"))
        elif new is None and old is not None:
            out.append(ObjectChange(resource=str(key), change="deleted"))
        elif old != new:
            out.append(ObjectChange(resource=str(key), change="changed", fields=tuple(field_changes(old, new))))
    return out


def compare_statuses(before: Mapping[ResourceKey, Any], after: Mapping[ResourceKey, Any]) -> list[StatusChange]:
    """Statuses (as plain data) that differ other than in `lastTransitionTime`, by key."""
    out = []
    for key in sorted(set(before) | set(after)):
        changes = [
            change
            for change in field_changes(before.get(key), after.get(key), "status")
            if not change.path.endswith("lastTransitionTime")
        ]
        if changes:
            out.append(StatusChange(resource=str(key), fields=tuple(changes)))
    return out


def compare_xds(before: Mapping[str, ResourceSet], after: Mapping[str, ResourceSet]) -> list[GatewayXdsChange]:
    """Per Gateway, the resources added, changed (new version) and removed, per type URL."""
    out = []
    empty = ResourceSet()
    for gateway in sorted(set(before) | set(after)):
        old, new = before.get(gateway, empty), after.get(gateway, empty)
        types = []
        for type_url, changes in sorted(diff(old, new).items()):
            held = old.of_type(type_url)
            types.append(
                TypeChange(
                    type_url=type_url,
                    added=tuple(name for name in changes.updated if name not in held),
                    changed=tuple(name for name in changes.updated if name in held),
                    removed=changes.removed,
                )
            )
        if not types and gateway in before and gateway in after:
            continue
        verb: Literal["added", "changed", "removed"] = (
            "added" if gateway not in before else "removed" if gateway not in after else "changed"
        )
        out.append(GatewayXdsChange(gateway=gateway, change=verb, types=tuple(types)))
    return out


class View(msgspec.Struct, frozen=True, kw_only=True):
    """What egd holds and serves at one point, as plain data where it is compared field by field."""

    objects: dict[ResourceKey, dict[str, Any]]
    statuses: dict[ResourceKey, Any]
    ir: dict[str, Any]
    xds: dict[str, ResourceSet]


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    objects: list[ObjectChange]
    statuses: list[StatusChange]
    ir: list[StatusChange]  # per Gateway (`resource` is its name), the IR fields that changed
    xds: list[GatewayXdsChange]


def compare(before: View, after: View) -> Comparison:
    ir = []
    for gateway in sorted(set(before.ir) | set(after.ir)):
        changes = field_changes(before.ir.get(gateway), after.ir.get(gateway), "ir")
        if changes:
            ir.append(StatusChange(resource=gateway, fields=tuple(changes)))
    return Comparison(
        objects=compare_objects(before.objects, after.objects),
        statuses=compare_statuses(before.statuses, after.statuses),
        ir=ir,
        xds=compare_xds(before.xds, after.xds),
    )
