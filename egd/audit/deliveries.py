"""The delivery audit: every xDS response sent to an Envoy and its ACK or NACK, recorded in the JetStream
stream `EGD_DELIVERIES` (subjects `egd.v1.delivery.<gateway>.<node>`), kept for a bounded time.

The xDS path never waits for it: the hooks only append a record to a bounded in-memory queue (dropping,
and saying so in the log, if NATS cannot keep up); a background task publishes the queue in batches with
pipelined JetStream publishes.

    recorder = DeliveryRecorder(nats_url, retention=timedelta(days=7), reflects=publisher.published_seq.get)
    await recorder.start()
    hooks = compose_hooks(metered_hooks(metrics, known_gateway), recorder.hooks())
    ... asyncio.create_task(recorder.run()) ...   await recorder.close()
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from egd.audit.records import (
    DELIVERY_STREAM,
    DELIVERY_SUBJECT_PREFIX,
    Delivery,
    DeliveryKind,
    delivery_filter,
    delivery_payloads,
    delivery_subject,
)
from egd.client import current_nats_auth, nats_servers
from egd.xds.hooks import SentInfo, StreamInfo, XdsHooks
from events.jetstream.connection import open_connection
from projections.xds.delta import Acknowledgement

log = structlog.get_logger("egd.audit.deliveries")

DEFAULT_RETENTION = timedelta(days=7)
QUEUE_LIMIT = 100_000
BATCH_LIMIT = 1_000
FLUSH_INTERVAL_SECONDS = 0.2
ACK_TIMEOUT_SECONDS = 5.0
"""How long a batch waits for JetStream's acks before its unacknowledged records count as dropped."""
RECORD_BYTES_LIMIT = 256 * 1024
"""The largest record payload: a quarter of NATS's default `max_payload` (1 MiB); bigger records go in parts."""
_PENDING_PER_STREAM = 64  # sent nonces remembered per stream to give an ACK the sequence it reflects

_decode = msgspec.json.Decoder(Delivery).decode


def delivery_stream_config(retention: timedelta, *, replicas: int = 1) -> StreamConfig:
    seconds = retention.total_seconds()
    return StreamConfig(
        name=DELIVERY_STREAM,
        subjects=[f"{DELIVERY_SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=seconds,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=min(seconds, 120.0),
        allow_direct=True,
    )


async def _connect(nats_url: str) -> Client:
    """A connection of the audit's own, so that its batches never queue behind the event log's reads."""
    return await open_connection(nats_servers(nats_url), connect_timeout=2.0, auth=current_nats_auth())


class DeliveryRecorder:
    def __init__(
        self,
        nats_url: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        reflects: Callable[[str], int | None] = lambda _: None,
        replica: str | None = None,
    ) -> None:
        """`reflects(gateway)` is the log sequence the resources now published for `gateway` reflect."""
        self._url = nats_url
        self._retention = retention
        self._reflects = reflects
        self._replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._sent_seq: dict[int, dict[str, int]] = {}
        self._nc: Client | None = None
        self.recorded = 0
        self.dropped = 0

    async def start(self) -> None:
        self._nc = await _connect(self._url)
        jsm = self._nc.jsm()
        wanted = delivery_stream_config(self._retention)
        try:
            await jsm.stream_info(DELIVERY_STREAM)
            await jsm.update_stream(wanted)
        except nats.js.errors.NotFoundError:
            await jsm.add_stream(wanted)

    def hooks(self) -> XdsHooks:
        return XdsHooks(
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_response=self._on_response,
            on_ack=self._on_answer,
            on_nack=self._on_answer,
        )

    async def run(self) -> None:
        """Publish what the hooks queued, in batches, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)  # let a burst gather into one batch

    async def flush(self) -> None:
        assert self._nc is not None, "start() the recorder first"
        js = self._nc.jetstream()
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH_LIMIT, len(self._queue)))]
            acks: list[asyncio.Future[PubAck]] = []
            error: BaseException | None = None
            try:
                for subject, payload in batch:
                    acks.append(await js.publish_async(subject, payload, stream=DELIVERY_STREAM))
                await asyncio.wait(acks, timeout=ACK_TIMEOUT_SECONDS)
            except (nats.errors.Error, OSError) as exc:
                error = exc
            unanswered = [ack for ack in acks if not ack.done()]
            for ack in unanswered:
                ack.cancel()
            refused = [problem for ack in acks if not ack.cancelled() and (problem := ack.exception()) is not None]
            stored = len(acks) - len(unanswered) - len(refused)
            self.recorded += stored
            if stored < len(batch):
                why = error or (refused[0] if refused else f"no JetStream ack within {ACK_TIMEOUT_SECONDS}s")
                self.dropped += len(batch) - stored
                log.warning("deliveries not recorded", count=len(batch) - stored, error=repr(why))

    async def close(self) -> None:
        if self._nc is None:
            return
        try:
            await self.flush()
        finally:
            await self._nc.close()

    # -- hooks: quick, never blocking ---------------------------------------------------------------------

    def _record(self, delivery: Delivery) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("delivery audit queue full: records dropped", dropped=self.dropped)
            return
        subject = delivery_subject(delivery.gateway, delivery.node_id)
        for payload in delivery_payloads(delivery, RECORD_BYTES_LIMIT):
            self._queue.append((subject, payload))
        self._wake.set()

    def _base(self, stream: StreamInfo, kind: DeliveryKind) -> Delivery:
        return Delivery(
            at=datetime.now(UTC),
            kind=kind,
            node_id=stream.node_id,
            gateway=stream.node_group,
            stream_id=stream.stream_id,
            variant=stream.variant,
            replica=self._replica,
        )

    def _on_connect(self, stream: StreamInfo) -> None:
        self._sent_seq[stream.stream_id] = {}
        self._record(self._base(stream, "connected"))

    def _on_disconnect(self, stream: StreamInfo) -> None:
        self._sent_seq.pop(stream.stream_id, None)
        self._record(self._base(stream, "disconnected"))

    def _on_response(self, stream: StreamInfo, sent: SentInfo) -> None:
        seq = self._reflects(stream.node_group) or 0
        pending = self._sent_seq.setdefault(stream.stream_id, {})
        pending[sent.nonce] = seq
        while len(pending) > _PENDING_PER_STREAM:
            del pending[next(iter(pending))]
        self._record(
            msgspec.structs.replace(
                self._base(stream, "sent"),
                type_url=sent.type_url,
                nonce=sent.nonce,
                seq=seq,
                count=sent.resources,
                size=sent.size,
            )
        )

    def _on_answer(self, stream: StreamInfo, answer: Acknowledgement) -> None:
        if answer.kind == "ack" and answer.response is None:
            return  # an ACK of a response this stream never sent (a reconnect): nothing to record
        response = answer.response
        self._record(
            msgspec.structs.replace(
                self._base(stream, answer.kind),
                type_url=answer.type_url,
                nonce=answer.nonce,
                seq=self._sent_seq.get(stream.stream_id, {}).pop(answer.nonce, 0),
                resources=response.resources if response is not None else (),
                removed=response.removed if response is not None else (),
                error_code=answer.error_code,
                error_message=answer.error_message,
            )
        )


async def read_deliveries(
    nats_url: str,
    *,
    gateway: str | None = None,
    node_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Delivery]:
    """The recorded deliveries of one Gateway and/or node that happened between two times, in the order
    they were recorded. JetStream's own timestamps (when a batch was stored, a little after the records'
    `at`) only narrow where reading starts."""
    connection = await _connect(nats_url)
    try:
        js = connection.jetstream()
        try:
            await connection.jsm().stream_info(DELIVERY_STREAM)
        except nats.js.errors.NotFoundError:
            return []
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        )
        subscription = await js.pull_subscribe(
            delivery_filter(gateway, node_id), durable=None, stream=DELIVERY_STREAM, config=config
        )
        try:
            remaining = (await subscription.consumer_info()).num_pending or 0
            out: list[Delivery] = []
            while remaining > 0:
                messages = await subscription.fetch(min(remaining, BATCH_LIMIT), timeout=5)
                remaining -= len(messages)
                for message in messages:
                    delivery = _decode(message.data)
                    if (since is None or delivery.at >= since) and (until is None or delivery.at <= until):
                        out.append(delivery)
            return out
        finally:
            await subscription.unsubscribe()
    finally:
        await connection.close()
