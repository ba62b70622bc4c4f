"""The event store in memory: the same contract as the JetStream store, for tests that need no server.

It mirrors JetStream's rules: atomic chunks of `ATOMIC_BATCH_LIMIT`, per-subject expected revisions, and a
duplicate window keyed by the message id (the hash of the event's bytes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from events.codec import encode_event, message_id
from events.errors import ConflictError
from events.keys import subject_for
from events.schema import LogRecord
from events.store import ATOMIC_BATCH_LIMIT, Append, Appended, check_expectations

DUPLICATE_WINDOW_SECONDS = 120.0


class _Pending:
    __slots__ = ("expected_revision", "msg_id", "payload", "subject")

    def __init__(self, item: Append) -> None:
        self.payload = encode_event(item.event)
        self.msg_id = message_id(self.payload)
        self.subject = subject_for(item.event.key)
        self.expected_revision = item.expected_revision


class MemoryEventStore:
    """`events.store.EventStore` held in a list; one instance is one log."""

    def __init__(self, *, duplicate_window: float = DUPLICATE_WINDOW_SECONDS) -> None:
        self._log: list[LogRecord] = []
        self._revisions: dict[str, int] = {}
        self._message_ids: dict[str, tuple[int, float]] = {}
        self._duplicate_window = duplicate_window
        self._appended = asyncio.Event()
        self._closed = False

    async def append(self, batch: Sequence[Append]) -> list[Appended]:
        check_expectations(batch)
        appended: list[Appended] = []
        for start in range(0, len(batch), ATOMIC_BATCH_LIMIT):
            chunk = [_Pending(item) for item in batch[start : start + ATOMIC_BATCH_LIMIT]]
            appended += self._append_each(chunk) if self._has_duplicate(chunk) else self._append_atomic(chunk)
        if appended:
            self._appended.set()
            self._appended = asyncio.Event()
        return appended

    def _has_duplicate(self, chunk: list[_Pending]) -> bool:
        ids = [item.msg_id for item in chunk]
        return len(set(ids)) < len(ids) or any(self._stored_copy(msg_id) is not None for msg_id in ids)

    def _stored_copy(self, msg_id: str) -> int | None:
        found = self._message_ids.get(msg_id)
        if found is None or time.monotonic() - found[1] > self._duplicate_window:
            return None
        return found[0]

    def _append_atomic(self, chunk: list[_Pending]) -> list[Appended]:
        retried = False
        for item in chunk:
            revision = self._revisions.get(item.subject, 0)
            if item.expected_revision is not None and item.expected_revision != revision:
                if not (revision and self._log[revision - 1].data == item.payload):
                    raise ConflictError(item.subject, item.expected_revision, f"its revision is {revision}")
                retried = True  # this very event is the resource's last: a retried batch that was stored
        return self._append_each(chunk) if retried else [self._store(item) for item in chunk]

    def _append_each(self, chunk: list[_Pending]) -> list[Appended]:
        """Event by event, in JetStream's order: the expected revision first, then the duplicate window."""
        appended = []
        for item in chunk:
            revision = self._revisions.get(item.subject, 0)
            if item.expected_revision is not None and item.expected_revision != revision:
                if revision and self._log[revision - 1].data == item.payload:
                    appended.append(Appended(seq=revision, subject=item.subject, duplicate=True))
                    continue
                raise ConflictError(item.subject, item.expected_revision, f"its revision is {revision}")
            copy = self._stored_copy(item.msg_id)
            if copy is not None:
                appended.append(Appended(seq=copy, subject=item.subject, duplicate=True))
                continue
            appended.append(self._store(item))
        return appended

    def _store(self, item: _Pending) -> Appended:
        seq = len(self._log) + 1
        now = datetime.now(UTC)
        if self._log and now < self._log[-1].stored_at:
            now = self._log[-1].stored_at
        self._log.append(LogRecord(seq=seq, subject=item.subject, stored_at=now, data=item.payload))
        self._revisions[item.subject] = seq
        self._message_ids[item.msg_id] = (seq, time.monotonic())
        return Appended(seq=seq, subject=item.subject)

    async def read(self, *, from_seq: int = 1, from_time: datetime | None = None) -> AsyncIterator[LogRecord]:
        if from_time is not None and from_time.tzinfo is None:
            raise ValueError("from_time must be timezone-aware")
        end = len(self._log)
        for record in self._log[max(from_seq, 1) - 1 : end]:
            if from_time is None or record.stored_at >= from_time:
                yield record

    async def read_latest_per_subject(self, subject_filter: str) -> AsyncIterator[LogRecord]:
        latest = sorted(seq for subject, seq in self._revisions.items() if _matches(subject_filter, subject))
        for seq in latest:
            yield self._log[seq - 1]

    async def follow(self, *, after_seq: int) -> AsyncIterator[LogRecord]:
        next_index = after_seq
        while not self._closed:
            if next_index < len(self._log):
                record = self._log[next_index]
                next_index += 1
                yield record
                continue
            await self._appended.wait()

    async def last_seq(self) -> int:
        return len(self._log)

    async def close(self) -> None:
        self._closed = True
        self._appended.set()


def _matches(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: `*` matches one token, a final `>` one or more."""
    wanted, tokens = subject_filter.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or (token != "*" and token != tokens[i]):
            return False
    return len(tokens) == len(wanted)
