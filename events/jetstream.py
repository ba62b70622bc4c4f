"""The event store on NATS JetStream: one stream holds every resource subject, and keeps everything.

Writes are JetStream atomic batch publishes (nats-server 2.12+, stream `allow_atomic`): up to
`ATOMIC_BATCH_LIMIT` events are stored together or not at all, and the server checks every
`Nats-Expected-Last-Subject-Sequence` of the batch under one lock at commit. `Nats-Msg-Id` (the hash of the
event's bytes) makes a retried write land once.

Reads use an ephemeral push consumer with flow control (`_ConsumerFeed`): nats-py's pull `fetch()` tops out
far below what a replay needs. The feed tracks the last stream sequence it delivered and re-creates its
consumer from the next one after a gap, a stall or a reconnect, so that nothing is skipped or repeated even
across a nats-server restart.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Self

import msgspec
import nats.errors
import nats.js.errors
import tenacity
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from events.codec import encode_event, message_id
from events.errors import ConflictError, EventStoreError, StoreUnavailableError
from events.keys import ALL_RESOURCES_SUBJECT, subject_for
from events.schema import LogRecord
from events.store import ATOMIC_BATCH_LIMIT, Append, Appended, check_expectations

DEFAULT_STREAM = "EGD_EVENTS"
DUPLICATE_WINDOW_SECONDS = 120.0

_MSG_ID = "Nats-Msg-Id"
_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
_BATCH_ID = "Nats-Batch-Id"
_BATCH_SEQUENCE = "Nats-Batch-Sequence"
_BATCH_COMMIT = "Nats-Batch-Commit"

_WRONG_LAST_SEQUENCE = frozenset({10071, 10164})
_BATCH_HAS_DUPLICATE = 10201
_NO_MESSAGE_FOUND = 10037

_HEARTBEAT_SECONDS = 1.0
_STALL_SECONDS = 3.0
_FLOW_CONTROL_HIGH_WATER = 20_000
_CONSUMER_INACTIVE_SECONDS = 30.0
_NANOS = 1_000_000_000

_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,  # nats.errors.TimeoutError is an asyncio.TimeoutError, which is TimeoutError
    nats.errors.NoRespondersError,  # JetStream not ready yet after a restart
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
)


def _retry_while_reconnecting(give_up_after: float | None) -> tenacity.AsyncRetrying:
    """Retry policy for I/O across a lost connection or a restarting server; never for anything else.
    `give_up_after=None` retries for as long as it takes (a live follower outlives any outage)."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(_TRANSIENT_ERRORS),
        wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
        stop=tenacity.stop_never if give_up_after is None else tenacity.stop_after_delay(give_up_after),
        reraise=True,
    )


def stream_config(name: str = DEFAULT_STREAM, *, replicas: int = 1) -> StreamConfig:
    """The audit stream: every resource subject, on disk, kept forever, never deleted from or purged."""
    return StreamConfig(
        name=name,
        subjects=[ALL_RESOURCES_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_msgs=-1,
        max_bytes=-1,
        max_msgs_per_subject=-1,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
    )


def _config_drift(actual: StreamConfig, wanted: StreamConfig) -> list[str]:
    fields = (
        *("subjects", "storage", "max_age", "max_msgs", "max_bytes", "max_msgs_per_subject", "num_replicas"),
        *("duplicate_window", "deny_delete", "deny_purge", "allow_direct", "allow_atomic"),
    )
    drift = []
    for field in fields:
        have, want = getattr(actual, field), getattr(wanted, field)
        if field == "max_age":
            have, want = have or 0, want or 0
        if have != want:
            drift.append(f"{field}={have!r} (want {want!r})")
    return drift


class _ApiError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct, frozen=True):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    count: int = 0
    error: _ApiError | None = None


class _StoredMessage(msgspec.Struct, frozen=True):
    seq: int
    hdrs: str = ""  # base64 of the NATS header block


class _MsgGetReply(msgspec.Struct, frozen=True):
    message: _StoredMessage | None = None
    error: _ApiError | None = None


class _ConsumerCreated(msgspec.Struct, frozen=True):
    num_pending: int = 0
    error: _ApiError | None = None


_decode_ack = msgspec.json.Decoder(_PubAck).decode
_decode_msg_get = msgspec.json.Decoder(_MsgGetReply).decode
_decode_consumer_created = msgspec.json.Decoder(_ConsumerCreated).decode
_encode_json = msgspec.json.Encoder().encode


class _LogConnection(Client):
    """A nats-py client with a fast lane for log records.

    A subscription made with `subscribe_records` hands each JetStream-delivered message straight to a
    plain function, as the bytes arrive: no `Msg`, no header parsing, no queue and no task switch per record,
    which is what replay throughput is made of. Its status messages (heartbeats, flow control) take nats-py's
    ordinary path to the subscription's callback. Other messages skip the parsing of ordinary headers, which
    the store never reads; status headers are still parsed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._record_handlers: dict[int, Callable[[bytes, bytes, bytes], None]] = {}

    async def subscribe_records(
        self,
        subject: str,
        on_record: Callable[[bytes, bytes, bytes], None],
        on_status: Callable[[Msg], Awaitable[None]],
    ) -> Subscription:
        """`on_record(subject, ack_reply, data)` for every message whose reply is a JetStream ack subject."""
        subscription = await self.subscribe(subject, cb=on_status, pending_msgs_limit=0, pending_bytes_limit=0)
        self._record_handlers[subscription._id] = on_record
        return subscription

    def forget_records(self, subscription: Subscription) -> None:
        self._record_handlers.pop(subscription._id, None)

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        on_record = self._record_handlers.get(sid)
        if on_record is not None and reply.startswith(b"$JS.ACK."):
            on_record(subject, reply, data)
            return
        await super()._process_msg(sid, subject, reply, data, headers)

    async def _process_headers(self, headers: bytes | None) -> dict[str, str] | None:
        if not headers or headers[8:9] == b" ":  # "NATS/1.0 100 ..." carries a status
            result: dict[str, str] | None = await super()._process_headers(headers)
            return result
        return None


class _Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    payload: bytes
    headers: dict[str, str]
    expected_revision: int | None

    @classmethod
    def of(cls, item: Append) -> _Outgoing:
        payload = encode_event(item.event)
        headers = {_MSG_ID: message_id(payload)}
        if item.expected_revision is not None:
            headers[_EXPECTED_LAST_SUBJECT_SEQ] = str(item.expected_revision)
        return cls(
            subject=subject_for(item.event.key),
            payload=payload,
            headers=headers,
            expected_revision=item.expected_revision,
        )


class JetStreamEventStore:
    """`events.store.EventStore` on one JetStream stream. Create it with `await JetStreamEventStore.connect(url)`."""

    def __init__(
        self, connection: _LogConnection, *, stream: str, request_timeout: float, give_up_after: float
    ) -> None:
        self._nc = connection
        self.stream = stream
        self._request_timeout = request_timeout
        self._give_up_after = give_up_after
        self._feeds: set[_ConsumerFeed] = set()

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
    ) -> Self:
        """Connect, then create the stream or bring its configuration to `stream_config`.

        Raises StoreUnavailableError when no server answers within `connect_timeout`. Once connected, the
        client reconnects forever; an operation gives up with StoreUnavailableError after `give_up_after`
        seconds without the server.
        """
        servers = [url] if isinstance(url, str) else list(url)
        store: JetStreamEventStore | None = None

        async def reconnected() -> None:
            if store is not None:
                store._on_reconnected()

        connection = _LogConnection()
        connecting = connection.connect(
            servers,
            connect_timeout=connect_timeout,  # type: ignore[arg-type]  # used as a float
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # once connected; the first connection is bounded by wait_for
            reconnect_time_wait=0.2,  # type: ignore[arg-type]  # used as a float
            reconnected_cb=reconnected,
            error_cb=_ignore_error,
        )
        try:
            await asyncio.wait_for(connecting, connect_timeout)
        except (OSError, TimeoutError, nats.errors.NoServersError) as exc:
            await connection.close()
            reason = f"no answer within {connect_timeout}s" if isinstance(exc, TimeoutError) else repr(exc)
            raise StoreUnavailableError(f"cannot reach NATS at {', '.join(servers)}: {reason}") from exc
        store = cls(connection, stream=stream, request_timeout=request_timeout, give_up_after=give_up_after)
        try:
            await store._ensure_stream(stream_config(stream, replicas=replicas))
        except BaseException:
            await connection.close()
            raise
        return store

    async def _ensure_stream(self, wanted: StreamConfig) -> None:
        jsm = self._nc.jsm()
        try:
            async for attempt in _retry_while_reconnecting(self._give_up_after):
                with attempt:
                    try:
                        info = await jsm.stream_info(self.stream)
                    except nats.js.errors.NotFoundError:
                        try:
                            await jsm.add_stream(wanted)
                        except nats.js.errors.BadRequestError as exc:
                            raise EventStoreError(f"cannot create stream {self.stream}: {exc.description}") from exc
                        return
                    drift = _config_drift(info.config, wanted)
                    if drift:
                        try:
                            await jsm.update_stream(wanted)
                        except nats.js.errors.APIError as exc:
                            raise EventStoreError(
                                f"stream {wanted.name} differs from egd's configuration ({', '.join(drift)}) "
                                f"and cannot be updated: {exc.description}"
                            ) from exc
        except _TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"JetStream did not answer for stream {wanted.name}: {exc!r}") from exc

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.stop()
        if not self._nc.is_closed:
            await self._nc.close()

    def _on_reconnected(self) -> None:
        for feed in self._feeds:
            feed.request_reset()

    # -- writing ----------------------------------------------------------------------------------------

    async def append(self, batch: Sequence[Append]) -> list[Appended]:
        check_expectations(batch)
        appended: list[Appended] = []
        for start in range(0, len(batch), ATOMIC_BATCH_LIMIT):
            chunk = [_Outgoing.of(item) for item in batch[start : start + ATOMIC_BATCH_LIMIT]]
            appended += await self._append_chunk(chunk)
        return appended

    async def _append_chunk(self, chunk: list[_Outgoing]) -> list[Appended]:
        try:
            async for attempt in _retry_while_reconnecting(self._give_up_after):
                with attempt:
                    if len(chunk) == 1:
                        return await self._publish_each(chunk)
                    ack = await self._publish_atomic(chunk)
                    if ack.error is None:
                        first = ack.seq - len(chunk) + 1
                        return [Appended(seq=first + i, subject=item.subject) for i, item in enumerate(chunk)]
                    if ack.error.err_code == _BATCH_HAS_DUPLICATE:
                        return await self._publish_each(chunk)  # a retry: each copy already stored is acked
                    if ack.error.err_code in _WRONG_LAST_SEQUENCE:
                        conflict = await self._name_conflict(chunk, ack.error.description)
                        if conflict is not None:
                            raise conflict
                        return await self._publish_each(chunk)  # a retry of a batch that was stored
                    raise EventStoreError(f"JetStream refused the batch: {ack.error.description}")
        except _TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"JetStream did not acknowledge the write: {exc!r}") from exc
        raise AssertionError("unreachable: tenacity reraises")

    async def _publish_atomic(self, chunk: list[_Outgoing]) -> _PubAck:
        batch_id = uuid.uuid4().hex
        nc, timeout, last = self._nc, self._request_timeout, len(chunk)
        first = chunk[0]
        started = await nc.request(
            first.subject, first.payload, timeout, headers={**first.headers, _BATCH_ID: batch_id, _BATCH_SEQUENCE: "1"}
        )
        if started.data:
            return _decode_ack(started.data)
        for sequence in range(2, last):
            item = chunk[sequence - 1]
            headers = {**item.headers, _BATCH_ID: batch_id, _BATCH_SEQUENCE: str(sequence)}
            await nc.publish(item.subject, item.payload, headers=headers)
        item = chunk[-1]
        headers = {**item.headers, _BATCH_ID: batch_id, _BATCH_SEQUENCE: str(last), _BATCH_COMMIT: "1"}
        committed = await nc.request(item.subject, item.payload, timeout, headers=headers)
        return _decode_ack(committed.data)

    async def _publish_each(self, chunk: list[_Outgoing]) -> list[Appended]:
        appended = []
        for item in chunk:
            reply = await self._nc.request(item.subject, item.payload, self._request_timeout, headers=item.headers)
            ack = _decode_ack(reply.data)
            if ack.error is None:
                appended.append(Appended(seq=ack.seq, subject=item.subject, duplicate=ack.duplicate))
                continue
            if ack.error.err_code not in _WRONG_LAST_SEQUENCE or item.expected_revision is None:
                raise EventStoreError(f"JetStream refused {item.subject}: {ack.error.description}")
            # JetStream checks the expected revision before the duplicate window: a retry of a write that
            # was stored fails that check, and is recognised by its message id on the subject's last record.
            revision, last_id = await self._subject_last(item.subject)
            if last_id != item.headers[_MSG_ID]:
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
            if revision != item.expected_revision and last_id != item.headers[_MSG_ID]:
                return ConflictError(item.subject, item.expected_revision, f"its revision is {revision}")
        return None

    async def _subject_last(self, subject: str) -> tuple[int, str | None]:
        """(revision, Nats-Msg-Id) of the subject's last record; (0, None) when it has none."""
        request = _encode_json({"last_by_subj": subject})
        reply = await self._nc.request(f"$JS.API.STREAM.MSG.GET.{self.stream}", request, self._request_timeout)
        found = _decode_msg_get(reply.data)
        if found.message is not None:
            return found.message.seq, _header_value(found.message.hdrs, _MSG_ID)
        if found.error is not None and found.error.err_code != _NO_MESSAGE_FOUND:
            raise EventStoreError(f"cannot read the revision of {subject}: {found.error.description}")
        return 0, None

    # -- reading ----------------------------------------------------------------------------------------

    async def last_seq(self) -> int:
        try:
            async for attempt in _retry_while_reconnecting(self._give_up_after):
                with attempt:
                    info = await self._nc.jsm().stream_info(self.stream)
                    last: int = info.state.last_seq
                    return last
        except _TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"JetStream did not answer for stream {self.stream}: {exc!r}") from exc
        raise AssertionError("unreachable: tenacity reraises")

    async def read(self, *, from_seq: int = 1, from_time: datetime | None = None) -> AsyncIterator[LogRecord]:
        start_time = None if from_time is None else _rfc3339(from_time)
        end = await self.last_seq()
        if end < from_seq:
            return
        if start_time is None:
            first_policy: dict[str, Any] = {"deliver_policy": "by_start_sequence", "opt_start_seq": from_seq}
        else:
            first_policy = {"deliver_policy": "by_start_time", "opt_start_time": start_time}
        feed = _ConsumerFeed(
            self, ALL_RESOURCES_SUBJECT, first_policy, resume_after_last=True, give_up_after=self._give_up_after
        )
        async for record in feed.records(stop_when_caught_up=True):
            if record.seq > end:
                break
            yield record
            if record.seq == end:
                break

    async def read_latest_per_subject(self, subject_filter: str) -> AsyncIterator[LogRecord]:
        seen: set[str] = set()
        policy = {"deliver_policy": "last_per_subject"}
        feed = _ConsumerFeed(self, subject_filter, policy, resume_after_last=False, give_up_after=self._give_up_after)
        async for record in feed.records(stop_when_caught_up=True):
            if record.subject not in seen:
                seen.add(record.subject)
                yield record

    async def follow(self, *, after_seq: int) -> AsyncIterator[LogRecord]:
        policy = {"deliver_policy": "by_start_sequence", "opt_start_seq": after_seq + 1}
        feed = _ConsumerFeed(self, ALL_RESOURCES_SUBJECT, policy, resume_after_last=True, give_up_after=None)
        async for record in feed.records():
            yield record


async def _ignore_error(exc: Exception) -> None:
    """nats-py reports connection trouble here too; the store's retries and feeds handle it."""


def _header_value(encoded_headers: str, name: str) -> str | None:
    if not encoded_headers:
        return None
    prefix = name.lower().encode() + b":"
    for line in base64.b64decode(encoded_headers).split(b"\r\n")[1:]:
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip().decode()
    return None


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("from_time must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ack_fields(reply: bytes) -> tuple[int, int, int, int]:
    """(stream seq, consumer seq, timestamp ns, pending) from a JetStream ack subject, v1 or v2 form."""
    tokens = reply.split(b".")
    base = 5 if len(tokens) == 9 else 7
    return int(tokens[base]), int(tokens[base + 1]), int(tokens[base + 2]), int(tokens[base + 3])


class _ConsumerFeed:
    """Records from one ephemeral push consumer at a time, in stream order, re-created when needed.

    After a gap in consumer sequences, a stall (no heartbeat), or a reconnect, the consumer is replaced by
    one that starts after the last record yielded (`resume_after_last`), or by the same policy again.
    Flow control replies are held back while too many records wait to be consumed: that is the backpressure.
    `caught_up` turns true once every record pending when the current consumer was created has been seen.
    """

    def __init__(
        self,
        store: JetStreamEventStore,
        subject_filter: str,
        policy: dict[str, Any],
        *,
        resume_after_last: bool,
        give_up_after: float | None,
    ) -> None:
        self._store = store
        self._give_up_after = give_up_after
        self._filter = subject_filter
        self._policy = policy
        self._resume_after_last = resume_after_last
        self._buffer: deque[tuple[LogRecord, int]] = deque()
        self._wake = asyncio.Event()
        self._generation = 0
        self._subscription: Subscription | None = None
        self._consumer_name = ""
        self._expected_delivery = 1
        self._held_flow_reply: str | None = None
        self._reset_requested = False
        self._stopped = False
        self._heard_at = 0.0
        self._initial_pending = 0
        self._seen_since_open = 0
        self.caught_up = False

    def request_reset(self) -> None:
        self._reset_requested = True
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def records(self, *, stop_when_caught_up: bool = False) -> AsyncIterator[LogRecord]:
        loop = asyncio.get_running_loop()
        last_seq = 0
        self._store._feeds.add(self)
        try:
            await self._open(self._policy)
            while not self._stopped:
                if stop_when_caught_up and self.caught_up:
                    return
                if self._reset_requested:
                    policy = self._policy
                    if self._resume_after_last and last_seq:
                        policy = {"deliver_policy": "by_start_sequence", "opt_start_seq": last_seq + 1}
                    await self._open(policy)
                    continue
                if not self._buffer:
                    self._wake.clear()
                    await self._release_flow_control()
                    try:
                        await asyncio.wait_for(self._wake.wait(), _STALL_SECONDS)
                    except TimeoutError:
                        if loop.time() - self._heard_at > _STALL_SECONDS:
                            self._reset_requested = True
                    continue
                record, pending = self._buffer.popleft()
                self._seen_since_open += 1
                if self._seen_since_open >= self._initial_pending or pending == 0:
                    self.caught_up = True
                if record.seq <= last_seq and self._resume_after_last:
                    continue
                last_seq = record.seq
                if self._held_flow_reply is not None and len(self._buffer) < _FLOW_CONTROL_HIGH_WATER // 2:
                    await self._release_flow_control()
                yield record
        finally:
            self._store._feeds.discard(self)
            await self._close_consumer()

    async def _release_flow_control(self) -> None:
        reply, self._held_flow_reply = self._held_flow_reply, None
        if reply is not None and not self._store._nc.is_closed:
            await self._store._nc.publish(reply, b"")

    async def _open(self, policy: dict[str, Any]) -> None:
        await self._close_consumer()
        try:
            async for attempt in _retry_while_reconnecting(self._give_up_after):
                with attempt:
                    await self._create_consumer(policy)
        except _TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"cannot read stream {self._store.stream}: {exc!r}") from exc

    async def _create_consumer(self, policy: dict[str, Any]) -> None:
        nc, store = self._store._nc, self._store
        self._generation += 1
        self._buffer.clear()
        self._held_flow_reply = None
        self._expected_delivery = 1
        self._reset_requested = False
        self.caught_up = False
        self._seen_since_open = 0
        self._heard_at = asyncio.get_running_loop().time()
        inbox = nc.new_inbox()
        on_record, on_status = self._handlers(self._generation)
        self._subscription = await nc.subscribe_records(inbox, on_record, on_status)
        self._consumer_name = uuid.uuid4().hex
        config = {
            "name": self._consumer_name,
            "deliver_subject": inbox,
            "filter_subject": self._filter,
            "ack_policy": "none",
            "replay_policy": "instant",
            "flow_control": True,
            "idle_heartbeat": int(_HEARTBEAT_SECONDS * _NANOS),
            "inactive_threshold": int(_CONSUMER_INACTIVE_SECONDS * _NANOS),
            "mem_storage": True,
            "num_replicas": 1,
            **policy,
        }
        request = _encode_json({"stream_name": store.stream, "config": config})
        subject = f"$JS.API.CONSUMER.CREATE.{store.stream}.{self._consumer_name}"
        reply = await nc.request(subject, request, store._request_timeout)
        created = _decode_consumer_created(reply.data)
        if created.error is not None:
            if created.error.code == 503:
                raise nats.js.errors.ServiceUnavailableError(description=created.error.description)
            raise EventStoreError(f"cannot create a consumer on {store.stream}: {created.error.description}")
        self._initial_pending = created.num_pending
        if created.num_pending == 0:
            self.caught_up = True

    def _handlers(self, generation: int) -> tuple[Callable[[bytes, bytes, bytes], None], Callable[[Msg], Any]]:
        loop = asyncio.get_running_loop()
        buffer, wake = self._buffer, self._wake

        def on_record(subject: bytes, reply: bytes, data: bytes) -> None:
            if generation != self._generation:
                return
            self._heard_at = loop.time()
            seq, delivery, stamp, pending = _ack_fields(reply)
            if delivery != self._expected_delivery:
                self.request_reset()
                return
            self._expected_delivery = delivery + 1
            stored_at = datetime.fromtimestamp(stamp / _NANOS, UTC)
            buffer.append((LogRecord(seq=seq, subject=subject.decode(), stored_at=stored_at, data=data), pending))
            wake.set()

        async def on_status(msg: Msg) -> None:
            if generation != self._generation:
                return
            self._heard_at = loop.time()
            headers = msg.headers or {}
            if headers.get("Status") != "100":
                return
            last_delivered = headers.get("Nats-Last-Consumer")
            if last_delivered is not None and int(last_delivered) > self._expected_delivery - 1:
                self.request_reset()  # the server delivered records that never reached us
                return
            flow_reply = msg.reply or headers.get("Nats-Consumer-Stalled")
            if flow_reply:
                if len(self._buffer) < _FLOW_CONTROL_HIGH_WATER:
                    await self._store._nc.publish(flow_reply, b"")
                else:
                    self._held_flow_reply = flow_reply

        return on_record, on_status

    async def _close_consumer(self) -> None:
        subscription, self._subscription = self._subscription, None
        self._generation += 1
        nc = self._store._nc
        if subscription is None or nc.is_closed:
            return
        nc.forget_records(subscription)
        try:
            await subscription.unsubscribe()
            subject = f"$JS.API.CONSUMER.DELETE.{self._store.stream}.{self._consumer_name}"
            await nc.publish(subject, b"", reply=nc.new_inbox())  # best effort; inactive_threshold removes it too
        except (nats.errors.Error, OSError):
            pass
