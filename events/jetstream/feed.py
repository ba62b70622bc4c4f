"""Reading the log: one ephemeral push consumer at a time, re-created after a gap, a stall or a reconnect."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events.errors import EventStoreError, StoreUnavailableError
from events.jetstream.api import decode_consumer_created, encode_json
from events.jetstream.connection import TRANSIENT_ERRORS, LogConnection, retry_while_reconnecting
from events.schema import LogRecord

_HEARTBEAT_SECONDS = 1.0
_STALL_SECONDS = 3.0
_FLOW_CONTROL_HIGH_WATER = 20_000
_CONSUMER_INACTIVE_SECONDS = 30.0
_NANOS = 1_000_000_000


def _ack_fields(reply: bytes) -> tuple[int, int, int, int]:
    """(stream seq, consumer seq, timestamp ns, pending) from a JetStream ack subject, v1 or v2 form."""
    tokens = reply.split(b".")
    base = 5 if len(tokens) == 9 else 7
    return int(tokens[base]), int(tokens[base + 1]), int(tokens[base + 2]), int(tokens[base + 3])


class ConsumerFeed:
    """Records from one ephemeral push consumer at a time, in stream order, re-created when needed.

    After a gap in consumer sequences, a stall (no heartbeat), or a reconnect, the consumer is replaced by
    one that starts after the last record yielded (`resume_after_last`), or by the same policy again.
    Flow control replies are held back while too many records wait to be consumed: that is the backpressure.
    `caught_up` turns true once every record pending when the current consumer was created has been seen.
    """

    def __init__(
        self,
        connection: LogConnection,
        stream: str,
        subject_filter: str,
        policy: dict[str, Any],
        *,
        resume_after_last: bool,
        request_timeout: float,
        give_up_after: float | None,
    ) -> None:
        self._nc = connection
        self._stream = stream
        self._request_timeout = request_timeout
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

    async def records(self, *, stop_when_caught_up: bool = False) -> AsyncGenerator[LogRecord, None]:
        loop = asyncio.get_running_loop()
        last_seq = 0
        self._nc.reconnect_listeners.add(self.request_reset)
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
                        async with asyncio.timeout(_STALL_SECONDS):
                            await self._wake.wait()
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
            self._nc.reconnect_listeners.discard(self.request_reset)
            await self._close_consumer()

    async def _release_flow_control(self) -> None:
        reply, self._held_flow_reply = self._held_flow_reply, None
        if reply is not None and not self._nc.is_closed:
            await self._nc.publish(reply, b"")

    async def _open(self, policy: dict[str, Any]) -> None:
        await self._close_consumer()
        try:
            async for attempt in retry_while_reconnecting(self._give_up_after):
                with attempt:
                    await self._create_consumer(policy)
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailableError(f"cannot read stream {self._stream}: {exc!r}") from exc

    async def _create_consumer(self, policy: dict[str, Any]) -> None:
        nc = self._nc
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
        request = encode_json({"stream_name": self._stream, "config": config})
        subject = f"$JS.API.CONSUMER.CREATE.{self._stream}.{self._consumer_name}"
        reply = await nc.request(subject, request, self._request_timeout)
        created = decode_consumer_created(reply.data)
        if created.error is not None:
            if created.error.code == 503:
                raise nats.js.errors.ServiceUnavailableError(description=created.error.description)
            raise EventStoreError(f"cannot create a consumer on {self._stream}: {created.error.description}")
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
                    await self._nc.publish(flow_reply, b"")
                else:
                    self._held_flow_reply = flow_reply

        return on_record, on_status

    async def _close_consumer(self) -> None:
        subscription, self._subscription = self._subscription, None
        self._generation += 1
        nc = self._nc
        if subscription is None or nc.is_closed:
            return
        nc.forget_records(subscription)
        try:
            await subscription.unsubscribe()
            subject = f"$JS.API.CONSUMER.DELETE.{self._stream}.{self._consumer_name}"
            await nc.publish(subject, b"", reply=nc.new_inbox())  # best effort; inactive_threshold removes it too
        except (nats.errors.Error, OSError):
            pass
