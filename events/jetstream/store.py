"""`JetStreamEventStore`: appends as atomic batches, reads through consumer feeds."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self

import msgspec
import nats.js.errors

from events.codec import encode_event, message_id
from events.errors import ConflictError, EventStoreError, EventTooLargeError, StoreUnavailableError
from events.jetstream.api import (
    BATCH_COMMIT,
    BATCH_HAS_DUPLICATE,
    BATCH_ID,
    BATCH_SEQUENCE,
    EXPECTED_LAST_SUBJECT_SEQ,
    MSG_ID,
    NO_MESSAGE_FOUND,
    WRONG_LAST_SEQUENCE,
    PubAck,
    decode_ack,
    decode_msg_get,
    decode_stream_info,
    encode_json,
    header_value,
)
from events.jetstream.auth import NO_AUTH, NatsAuth
from events.jetstream.connection import TRANSIENT_ERRORS, LogConnection, open_connection, retry_while_reconnecting
from events.jetstream.feed import ConsumerFeed
from events.jetstream.stream import DEFAULT_STREAM, ensure_stream, stream_config
from events.keys import ALL_RESOURCES_SUBJECT, subject_for
from events.schema import LogRecord
from events.store import ATOMIC_BATCH_LIMIT, Append, Appended, check_expectations

HEADERS_ALLOWANCE = 1024
"""Room left for an event's headers (message id, expected revision, batch id and sequence) within max_payload."""


class _Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    payload: bytes
    headers: dict[str, str]
    expected_revision: int | None

    @classmethod
    def of(cls, item: Append) -> _Outgoing:
        payload = encode_event(item.event)
        headers = {MSG_ID: message_id(payload)}
        if item.expected_revision is not None:
            headers[EXPECTED_LAST_SUBJECT_SEQ] = str(item.expected_revision)
        return cls(
            subject=subject_for(item.event.key),
            payload=payload,
            headers=headers,
            expected_revision=item.expected_revision,
        )


class JetStreamEventStore:
    """`events.store.EventStore` on one JetStream stream. Create it with `await JetStreamEventStore.connect(url)`."""

    def __init__(self, connection: LogConnection, *, stream: str, request_timeout: float, give_up_after: float) -> None:
        self._nc = connection
        self.stream = stream
        self._request_timeout = request_timeout
        self._give_up_after = give_up_after
        self._feeds: set[ConsumerFeed] = set()

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str],
        *,
        stream: str = DEFAULT_STREAM,
        replicas: int = 1,
        connect_timeout: float = 2.0,
        request_timeout: float = 5.0,
        give_up_after: float = 30.0,
        auth: NatsAuth = NO_AUTH,
        manage_stream: bool = True,
    ) -> Self:
        """Connect, then create the stream or bring its configuration to `stream_config`.

        Without `manage_stream` (producers, readers), a stream that exists is used as it is, whatever its
        replicas or limits; only a missing one is created.

        Raises StoreUnavailableError when no server answers within `connect_timeout`, AccessDeniedError when
        NATS refuses `auth` (credentials, TLS) or a permission the store needs. Once connected, the
        client reconnects forever; an operation gives up with StoreUnavailableError after `give_up_after`
        seconds without the server, except `follow`, which waits for as long as it takes.
        """
        servers = [url] if isinstance(url, str) else list(url)
        connection = await open_connection(servers, connect_timeout=connect_timeout, auth=auth)
        try:
            wanted = stream_config(stream, replicas=replicas)
            await ensure_stream(connection, wanted, give_up_after=give_up_after, update=manage_stream)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, stream=stream, request_timeout=request_timeout, give_up_after=give_up_after)

    @property
    def connection(self) -> LogConnection:
        """The NATS connection, for stores that live beside the stream (snapshots, delivery audit)."""
        return self._nc

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.stop()
        if not self._nc.is_closed:
            with contextlib.suppress(ConnectionError):  # nats-py flushes into a socket that may be gone
                await self._nc.close()

    # -- writing ----------------------------------------------------------------------------------------

    async def append(self, batch: Sequence[Append]) -> list[Appended]:
        check_expectations(batch)
        outgoing = [_Outgoing.of(item) for item in batch]
        self._check_sizes(batch, outgoing)
        appended: list[Appended] = []
        for start in range(0, len(outgoing), ATOMIC_BATCH_LIMIT):
            appended += await self._append_chunk(outgoing[start : start + ATOMIC_BATCH_LIMIT])
        return appended

    def _check_sizes(self, batch: Sequence[Append], outgoing: Sequence[_Outgoing]) -> None:
        """Refuse the whole batch, before anything is written, if one of its events is bigger than the server
        takes in one message (headers included)."""
        limit = self._nc.max_payload - HEADERS_ALLOWANCE
        for item, message in zip(batch, outgoing, strict=True):
            if len(message.payload) > limit:
                key = item.event.key
                raise EventTooLargeError(
                    f"{key.kind} {key.namespace}/{key.name}: its event is {len(message.payload):,} bytes; the NATS "
                    f"server takes at most {limit:,} in one message (its max_payload, less room for headers); "
                    "nothing was written"
                )

    async def _append_chunk(self, chunk: list[_Outgoing]) -> list[Appended]:
        try:
            async for attempt in retry_while_reconnecting(self._give_up_after):
                with attempt:
                    if len(chunk) == 1:
                        return await self._publish_each(chunk)
                    ack = await self._publish_atomic(chunk)
                    if ack.error is None:
                        first = ack.seq - len(chunk) + 1
                        return [Appended(seq=first + i, subject=item.subject) for i, item in enumerate(chunk)]
                    if ack.error.err_code == BATCH_HAS_DUPLICATE:
                        return await self._publish_each(chunk)  # a retry: each copy already stored is acked
                    if ack.error.err_code in WRONG_LAST_SEQUENCE:
                        conflict = await self._name_conflict(chunk, ack.error.description)
                        if conflict is not None:
                            raise conflict
                        return await self._publish_each(chunk)  # a retry of a batch that was stored
                    raise EventStoreError(f"JetStream refused the batch: {ack.error.description}")
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"JetStream did not acknowledge the write: {exc!r}") from exc
        raise AssertionError("unreachable: tenacity reraises")

    async def _publish_atomic(self, chunk: list[_Outgoing]) -> PubAck:
        batch_id = uuid.uuid4().hex
        nc, timeout, last = self._nc, self._request_timeout, len(chunk)
        first = chunk[0]
        started = await nc.request(
            first.subject, first.payload, timeout, headers={**first.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: "1"}
        )
        if started.data:
            return decode_ack(started.data)
        for sequence in range(2, last):
            item = chunk[sequence - 1]
            headers = {**item.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(sequence)}
            await nc.publish(item.subject, item.payload, headers=headers)
        item = chunk[-1]
        headers = {**item.headers, BATCH_ID: batch_id, BATCH_SEQUENCE: str(last), BATCH_COMMIT: "1"}
        committed = await nc.request(item.subject, item.payload, timeout, headers=headers)
        return decode_ack(committed.data)

    async def _publish_each(self, chunk: list[_Outgoing]) -> list[Appended]:
        appended = []
        for item in chunk:
            reply = await self._nc.request(item.subject, item.payload, self._request_timeout, headers=item.headers)
            ack = decode_ack(reply.data)
            if ack.error is None:
                appended.append(Appended(seq=ack.seq, subject=item.subject, duplicate=ack.duplicate))
                continue
            if ack.error.err_code not in WRONG_LAST_SEQUENCE or item.expected_revision is None:
                raise EventStoreError(f"JetStream refused {item.subject}: {ack.error.description}")
            # JetStream checks the expected revision before the duplicate window: a retry of a write that
            # was stored fails that check, and is recognised by its message id on the subject's last record.
            revision, last_id = await self._subject_last(item.subject)
            if last_id != item.headers[MSG_ID]:
                raise ConflictError(item.subject, item.expected_revision, f"its revision is {revision}")
            appended.append(Appended(seq=revision, subject=item.subject, duplicate=True))
        return appended

    async def _name_conflict(self, chunk: list[_Outgoing], detail: str) -> ConflictError | None:
        """The server says an expectation of the batch failed, not which: look each one up. None when every
        failed expectation is explained by this very event being already stored (a retried batch)."""
        for item in chunk:
            if item.expected_revision is None:
                continue
            revision, last_id = await self._subject_last(item.subject)
            if revision != item.expected_revision and last_id != item.headers[MSG_ID]:
                return ConflictError(item.subject, item.expected_revision, f"its revision is {revision}")
        return None

    async def _subject_last(self, subject: str) -> tuple[int, str | None]:
        """(revision, Nats-Msg-Id) of the subject's last record; (0, None) when it has none."""
        request = encode_json({"last_by_subj": subject})
        reply = await self._nc.request(f"$JS.API.STREAM.MSG.GET.{self.stream}", request, self._request_timeout)
        found = decode_msg_get(reply.data)
        if found.message is not None:
            return found.message.seq, header_value(found.message.hdrs, MSG_ID)
        if found.error is not None and found.error.err_code != NO_MESSAGE_FOUND:
            raise EventStoreError(f"cannot read the revision of {subject}: {found.error.description}")
        return 0, None

    # -- reading ----------------------------------------------------------------------------------------

    async def last_seq(self) -> int:
        try:
            async for attempt in retry_while_reconnecting(self._give_up_after):
                with attempt:
                    reply = await self._nc.request(f"$JS.API.STREAM.INFO.{self.stream}", b"", self._request_timeout)
                    info = decode_stream_info(reply.data)
                    if info.error is not None and info.error.code == 503:
                        raise nats.js.errors.ServiceUnavailableError(description=info.error.description)
                    if info.error is not None or info.state is None:
                        detail = info.error.description if info.error else "no state"
                        raise EventStoreError(f"cannot read stream {self.stream}: {detail}")
                    return info.state.last_seq
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"JetStream did not answer for stream {self.stream}: {exc!r}") from exc
        raise AssertionError("unreachable: tenacity reraises")

    async def read(self, *, from_seq: int = 1, from_time: datetime | None = None) -> AsyncIterator[LogRecord]:
        start_time = None if from_time is None else _rfc3339(from_time)
        end = await self.last_seq()
        if end < from_seq:
            return
        if start_time is None:
            policy: dict[str, Any] = {"deliver_policy": "by_start_sequence", "opt_start_seq": from_seq}
        else:
            policy = {"deliver_policy": "by_start_time", "opt_start_time": start_time}
        async for record in self._consume(ALL_RESOURCES_SUBJECT, policy, resume_after_last=True, until_caught_up=True):
            if record.seq > end:
                break
            yield record
            if record.seq == end:
                break

    async def read_latest_per_subject(self, subject_filter: str) -> AsyncIterator[LogRecord]:
        seen: set[str] = set()  # a re-created consumer delivers the subjects from the start again
        policy = {"deliver_policy": "last_per_subject"}
        async for record in self._consume(subject_filter, policy, resume_after_last=False, until_caught_up=True):
            if record.subject not in seen:
                seen.add(record.subject)
                yield record

    async def follow(self, *, after_seq: int) -> AsyncIterator[LogRecord]:
        policy = {"deliver_policy": "by_start_sequence", "opt_start_seq": after_seq + 1}
        async for record in self._consume(ALL_RESOURCES_SUBJECT, policy, resume_after_last=True, forever=True):
            yield record

    async def _consume(
        self,
        subject_filter: str,
        policy: dict[str, Any],
        *,
        resume_after_last: bool,
        until_caught_up: bool = False,
        forever: bool = False,
    ) -> AsyncIterator[LogRecord]:
        feed = ConsumerFeed(
            self._nc,
            self.stream,
            subject_filter,
            policy,
            resume_after_last=resume_after_last,
            request_timeout=self._request_timeout,
            give_up_after=None if forever else self._give_up_after,
        )
        self._feeds.add(feed)
        try:
            records = feed.records(stop_when_caught_up=until_caught_up)
            try:
                async for record in records:
                    yield record
            finally:
                await records.aclose()
        finally:
            self._feeds.discard(feed)


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("from_time must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
