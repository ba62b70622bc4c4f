"""The event schema: one event per resource change, JSON on the wire.

Events are a tagged union identified by the wire tag in `type` (never by a Python class path) plus a
`schema_version`. They carry the whole object as submitted, so the latest event on a subject is the
resource's current state, and the audit metadata that answers "who changed it, from where, and why".

New fields get defaults; a field's type never changes; older `schema_version`s are upcast by the codec.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from events.keys import ResourceKey

SCHEMA_VERSION = 1


class _Change(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    schema_version: int = SCHEMA_VERSION
    key: ResourceKey
    actor: str
    source: str = ""
    reason: str = ""
    correlation_id: str = ""
    occurred_at: datetime


class ResourceApplied(_Change, frozen=True, kw_only=True, tag="ResourceApplied"):
    """The resource was created or replaced by `object` (the whole Kubernetes-style document)."""

    object: dict[str, Any]


class ResourceDeleted(_Change, frozen=True, kw_only=True, tag="ResourceDeleted"):
    """The resource was deleted."""


Event = ResourceApplied | ResourceDeleted


class LogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One message as the event store returns it: its place in the log and its undecoded bytes.

    `seq` is the stream sequence, the resource's revision once folded; `stored_at` is JetStream's timestamp.
    Decoding is the projections' job, so that a bad message is quarantined there, never lost here.
    """

    seq: int
    subject: str
    stored_at: datetime
    data: bytes
