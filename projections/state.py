"""The state projection: the log folded into the current set of objects.

Each object keeps the document as last applied, its revision (the stream sequence of its last event), its
generation (bumped only when something other than metadata and status changes, as Kubernetes does for
`metadata.generation`) and who changed it last, when, from where and why.

`fold` is deterministic and does no I/O. For speed it updates the `ResourceState` it is given in place: a
state belongs to the one loop that folds into it, and `fold` returns what changed so that later stages
(translation, status) can work incrementally. A record that is not a valid event is quarantined: counted,
kept for reporting, never a reason to stop folding.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

import msgspec

from events.codec import decode_event
from events.errors import EventDecodeError, InvalidKeyError
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied, ResourceDeleted
from projections.resources.kinds import REGISTRY

QUARANTINE_KEPT = 1000


class ChangeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Who changed an object, when, from where and why: the audit fields of its last event."""

    seq: int
    at: datetime  # when the log stored the event (JetStream's timestamp)
    occurred_at: datetime  # when the producer says the change happened
    actor: str
    source: str = ""
    reason: str = ""
    correlation_id: str = ""


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    key: ResourceKey
    object: dict[str, Any]
    revision: int
    generation: int
    created: ChangeInfo
    last_change: ChangeInfo


class QuarantinedRecord(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    subject: str
    stored_at: datetime
    error: str


class StateChange(msgspec.Struct, frozen=True, kw_only=True):
    """What one folded record did. `before`/`after` are None when the object did not / no longer exists."""

    key: ResourceKey
    audit: ChangeInfo
    before: StoredObject | None
    after: StoredObject | None

    @property
    def verb(self) -> str:
        if self.after is None:
            return "deleted"
        return "created" if self.before is None else "configured"


class ResourceState:
    """The current objects, the last folded sequence, and the quarantine."""

    __slots__ = ("last_seq", "objects", "quarantine_count", "quarantined")

    def __init__(self) -> None:
        self.objects: dict[ResourceKey, StoredObject] = {}
        self.last_seq = 0
        self.quarantine_count = 0
        self.quarantined: deque[QuarantinedRecord] = deque(maxlen=QUARANTINE_KEPT)


_NOT_SPEC = frozenset(("metadata", "status"))
_ABSENT = object()


def same_spec(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether two documents agree on what bumps `metadata.generation`: everything but metadata and status.
    (Compared in place: this runs for every event of a replay.)"""
    for field, value in after.items():
        if field not in _NOT_SPEC and before.get(field, _ABSENT) != value:
            return False
    return all(field in after or field in _NOT_SPEC for field in before)


def fold(state: ResourceState, record: LogRecord) -> StateChange | None:
    """Fold one record into `state`; returns the change, or None if the record was quarantined."""
    if record.seq <= state.last_seq:
        raise ValueError(f"record {record.seq} folded after {state.last_seq}: the log is folded in order, once")
    state.last_seq = record.seq
    try:
        event = decode_event(record.data)
        problem = _mismatch(record.subject, event.key, event)
    except (EventDecodeError, InvalidKeyError) as exc:
        problem = str(exc)
    if problem is not None:
        state.quarantine_count += 1
        state.quarantined.append(
            QuarantinedRecord(seq=record.seq, subject=record.subject, stored_at=record.stored_at, error=problem)
        )
        return None
    change = ChangeInfo(
        seq=record.seq,
        at=record.stored_at,
        occurred_at=event.occurred_at,
        actor=event.actor,
        source=event.source,
        reason=event.reason,
        correlation_id=event.correlation_id,
    )
    before = state.objects.get(event.key)
    if isinstance(event, ResourceDeleted):
        if before is not None:
            del state.objects[event.key]
        return StateChange(key=event.key, audit=change, before=before, after=None)
    if before is None:
        generation, created = 1, change
    else:
        changed = not same_spec(before.object, event.object)
        generation, created = before.generation + (1 if changed else 0), before.created
    after = StoredObject(
        key=event.key,
        object=event.object,
        revision=record.seq,
        generation=generation,
        created=created,
        last_change=change,
    )
    state.objects[event.key] = after
    return StateChange(key=event.key, audit=change, before=before, after=after)


def _mismatch(subject: str, key: ResourceKey, event: ResourceApplied | ResourceDeleted) -> str | None:
    """Why the event cannot be folded as the change of `key`, or None. A subject does not name the group: an
    event whose key has another group than its kind's would make a second object of the subject."""
    if subject_for(key) != subject:
        return f"event for {key} was published on {subject}, not on {subject_for(key)}"
    info = REGISTRY.by_kind(key.kind)
    if info is not None and key.group != info.group:
        return f"event key {key} has group {key.group!r}; {key.kind} is of group {info.group!r}"
    if isinstance(event, ResourceApplied):
        meta = event.object.get("metadata")
        if not isinstance(meta, dict) or meta.get("name") != key.name:
            return f"object's metadata.name does not match the event key {key}"
        if (meta.get("namespace") or "") != key.namespace:
            return f"object's metadata.namespace does not match the event key {key}"
        if event.object.get("kind") != key.kind:
            return f"object's kind {event.object.get('kind')!r} does not match the event key {key}"
        api_version = event.object.get("apiVersion")
        group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
        if group != key.group:
            return f"object's apiVersion {api_version!r} does not match the group of the event key {key}"
    return None


def as_document(stored: StoredObject) -> dict[str, Any]:
    """The object as `egd get` shows it: the applied document with the server-side metadata filled in."""
    document = dict(stored.object)
    metadata = dict(document.get("metadata") or {})
    metadata["resourceVersion"] = str(stored.revision)
    metadata["generation"] = stored.generation
    metadata["creationTimestamp"] = stored.created.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    document["metadata"] = metadata
    return document
