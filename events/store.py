"""The event store interface: an append-only log with per-resource optimistic concurrency.

Implementations: `events.jetstream.JetStreamEventStore` (the real one) and `events.memory.MemoryEventStore`
(for pure tests); one contract test suite runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from events.keys import subject_for
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


ATOMIC_BATCH_LIMIT = 1000
"""The most events one atomic write holds: JetStream's limit for an atomic batch publish."""


def check_expectations(batch: Sequence[Append]) -> None:
    """Reject a batch where an expected revision follows an earlier event of the same resource: that
    revision cannot be known before the batch is stored (JetStream refuses such a batch too)."""
    if all(item.expected_revision is None for item in batch):
        return
    seen: set[str] = set()
    for item in batch:
        subject = subject_for(item.event.key)
        if item.expected_revision is not None and subject in seen:
            raise ValueError(f"{subject}: an expected revision may only go with the first event of a resource")
        seen.add(subject)


class EventStore(Protocol):
    async def append(self, batch: Sequence[Append]) -> list[Appended]:
        """Append every event in order; return one `Appended` per event.

        Atomic per chunk of `ATOMIC_BATCH_LIMIT` events: a chunk with a stale expected revision stores
        nothing and raises ConflictError naming the first stale write; earlier chunks stay stored and later
        ones are not sent. An event identical to one stored within the duplicate window (a retry) is not
        stored again: its `Appended` has `duplicate=True` and the sequence of the first copy (such a chunk
        is then written event by event). Raises ValueError for a batch `check_expectations` rejects, and
        EventTooLargeError, before writing anything, for a batch with an event bigger than the store takes in
        one message (JetStream: the server's max_payload)."""
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

    async def close(self) -> None:
        """Release the connection; iterators still open end."""
        ...
