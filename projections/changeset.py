"""Planning an apply or delete: which events a set of submitted documents turns into, given what the log
holds now. Pure: the CLI reads the current records, this decides, the store appends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec

from events.codec import decode_event
from events.errors import EventDecodeError
from events.keys import ResourceKey, subject_for
from events.schema import Event, LogRecord, ResourceApplied, ResourceDeleted
from events.store import Append

SERVER_MANAGED_METADATA = (
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

Verb = Literal["created", "configured", "unchanged", "deleted", "not found"]


class Audit(msgspec.Struct, frozen=True, kw_only=True):
    actor: str
    source: str
    reason: str
    correlation_id: str
    occurred_at: datetime


class Current(msgspec.Struct, frozen=True, kw_only=True):
    """The last event of one resource's subject: its revision, and the object unless it was deleted."""

    revision: int
    object: dict[str, Any] | None


class PlannedChange(msgspec.Struct, frozen=True, kw_only=True):
    key: ResourceKey
    verb: Verb
    append: Append | None  # None when nothing is to be published


def current_from_records(records: Iterable[LogRecord]) -> dict[str, Current]:
    """Subject → Current, from the last record of each subject. A record that is not a valid event still
    holds the subject's revision, so a write against it checks the right sequence."""
    current: dict[str, Current] = {}
    for record in records:
        try:
            event = decode_event(record.data)
        except EventDecodeError:
            current[record.subject] = Current(revision=record.seq, object=None)
            continue
        obj = event.object if isinstance(event, ResourceApplied) else None
        current[record.subject] = Current(revision=record.seq, object=obj)
    return current


def normalized_document(document: Mapping[str, Any], key: ResourceKey) -> dict[str, Any]:
    """The document as stored: no status (derived, never accepted as input), no server-managed metadata,
    the namespace filled in."""
    normalized = {k: v for k, v in document.items() if k != "status"}
    metadata = {k: v for k, v in (document.get("metadata") or {}).items() if k not in SERVER_MANAGED_METADATA}
    if key.namespace:
        metadata["namespace"] = key.namespace
    normalized["metadata"] = metadata
    return normalized


def plan_apply(
    documents: Iterable[tuple[ResourceKey, Mapping[str, Any]]],
    current: Mapping[str, Current],
    audit: Audit,
) -> list[PlannedChange]:
    """`current` maps subjects to their last event (see `current_from_records`)."""
    plan = []
    for key, document in documents:
        stored = normalized_document(document, key)
        now = current.get(subject_for(key))
        if now is not None and now.object == stored:
            plan.append(PlannedChange(key=key, verb="unchanged", append=None))
            continue
        verb: Verb = "configured" if now is not None and now.object is not None else "created"
        event: Event = ResourceApplied(key=key, object=stored, **_audit_fields(audit))
        plan.append(PlannedChange(key=key, verb=verb, append=Append(event=event, expected_revision=_rev(now))))
    return plan


def plan_delete(keys: Iterable[ResourceKey], current: Mapping[str, Current], audit: Audit) -> list[PlannedChange]:
    plan = []
    for key in keys:
        now = current.get(subject_for(key))
        if now is None or now.object is None:
            plan.append(PlannedChange(key=key, verb="not found", append=None))
            continue
        event = ResourceDeleted(key=key, **_audit_fields(audit))
        plan.append(PlannedChange(key=key, verb="deleted", append=Append(event=event, expected_revision=now.revision)))
    return plan


def plan_revert(
    target: Mapping[ResourceKey, Mapping[str, Any]],
    objects: Mapping[ResourceKey, Mapping[str, Any]],
    current: Mapping[str, Current],
    audit: Audit,
) -> list[PlannedChange]:
    """The events that bring `objects` (the documents as now folded) back to `target` (as folded at an
    earlier point): objects created since are deleted, changed ones get their earlier document back,
    deleted ones are re-created. Every event expects the subject's current revision from `current`
    (see `current_from_records`), so a change made meanwhile is refused, never overwritten."""
    plan = []
    for key in sorted(set(target) | set(objects)):
        was, now = target.get(key), objects.get(key)
        if was == now:
            continue
        revision = _rev(current.get(subject_for(key)))
        if was is None:
            event: Event = ResourceDeleted(key=key, **_audit_fields(audit))
            plan.append(PlannedChange(key=key, verb="deleted", append=Append(event=event, expected_revision=revision)))
            continue
        event = ResourceApplied(key=key, object=dict(was), **_audit_fields(audit))
        verb: Verb = "created" if now is None else "configured"
        plan.append(PlannedChange(key=key, verb=verb, append=Append(event=event, expected_revision=revision)))
    return plan


def _rev(now: Current | None) -> int:
    return 0 if now is None else now.revision


def _audit_fields(audit: Audit) -> dict[str, Any]:
    return {
        "actor": audit.actor,
        "source": audit.source,
        "reason": audit.reason,
        "correlation_id": audit.correlation_id,
        "occurred_at": audit.occurred_at,
    }
