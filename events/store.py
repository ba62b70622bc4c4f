"""The event store interface: an append-only log with per-resource optimistic concurrency.

Implementations: `events.jetstream.JetStreamEventStore` (the real one) and `events.memory.MemoryEventStore`
(for pure tests); one contract test suite runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from events.schema import Event, LogRecord


class Append(msgspec.Struct, frozen=True, kw_only=True):
    """One event to append. `expected_revision` is the resource's last revision the producer saw
    (0: the subject must have no event yet; None: no check)."""

    event: Event
    expected_revision: int | None = None


class Appended(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    subject: str
    duplicate: bool = False


class EventStore(Protocol):
    async def append(self, batch: Sequence[Append]) -> list[Appended]:
        """Append every event, pipelined, in order. Raises ConflictError naming the first stale write;
        events of the batch before it are stored, so callers validate before appending."""
        ...

    def read(self, *, from_seq: int = 1, from_time: datetime | None = None) -> AsyncIterator[LogRecord]:
        """Every record from `from_seq` (or from the first stored at or after `from_time`) up to the
        end of the log as it was when the read began."""
        ...

    def read_latest_per_subject(self, subject_filter: str) -> AsyncIterator[LogRecord]:
        """The last record of every subject matching `subject_filter`, as of now."""
        ...

    def follow(self, *, after_seq: int) -> AsyncIterator[LogRecord]:
        """Every record after `after_seq`, then live ones as they are appended, forever; across
        reconnects no record is skipped or repeated."""
        ...

    async def last_seq(self) -> int:
        """The sequence of the last record in the log (0 when empty)."""
        ...
