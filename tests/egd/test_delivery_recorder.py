"""The delivery recorder on a real nats-server: hooks queue, a flush writes EGD_DELIVERIES, reads filter by
Gateway, node and time, and the records fold into what an Envoy was running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import nats

from egd.audit.deliveries import RECORD_BYTES_LIMIT, DeliveryRecorder, read_deliveries
from egd.audit.records import DELIVERY_STREAM, Delivery, delivery_payloads, running_config
from egd.natsserver import NatsServerProcess
from egd.xds.hooks import SentInfo, StreamInfo, XdsHooks, compose_hooks
from projections.xds.delta import Acknowledgement, SentResponse
from projections.xds.resources import CLUSTER, LISTENER, ROUTE_CONFIGURATION, VIRTUAL_HOST

EDGE = StreamInfo(stream_id=1, variant="delta", node_id="envoy-1", node_group="default/edge", peer="ipv4:1")
OTHER = StreamInfo(stream_id=2, variant="delta", node_id="envoy.2", node_group="other/gw", peer="ipv4:2")


def sent(type_url: str, nonce: str) -> SentInfo:
    return SentInfo(type_url=type_url, nonce=nonce, resources=1, removed=0, size=100)


def answer(
    kind: str, type_url: str, nonce: str, resources: tuple[tuple[str, str], ...], **error: object
) -> Acknowledgement:
    response = SentResponse(type_url=type_url, nonce=nonce, resources=resources, removed=())
    return Acknowledgement(kind=kind, type_url=type_url, nonce=nonce, response=response, **error)  # type: ignore[arg-type]


async def test_deliveries_are_recorded_and_read_back(nats_server: NatsServerProcess) -> None:
    published = {"default/edge": 7, "other/gw": 3}
    recorder = DeliveryRecorder(nats_server.url, retention=timedelta(hours=12), reflects=published.get)
    await recorder.start()
    try:
        hooks = recorder.hooks()
        hooks.on_connect(EDGE)
        hooks.on_connect(OTHER)
        hooks.on_response(EDGE, sent(LISTENER, "1"))
        hooks.on_ack(EDGE, answer("ack", LISTENER, "1", (("l1", "v1"),)))
        published["default/edge"] = 9
        hooks.on_response(EDGE, sent(LISTENER, "2"))
        hooks.on_nack(EDGE, answer("nack", LISTENER, "2", (("l1", "v2"),), error_code=13, error_message="cannot bind"))
        hooks.on_response(OTHER, sent(ROUTE_CONFIGURATION, "1"))
        hooks.on_ack(OTHER, answer("ack", ROUTE_CONFIGURATION, "1", (("r", "v"),)))
        middle = datetime.now(UTC)
        hooks.on_response(EDGE, sent(LISTENER, "3"))
        hooks.on_ack(EDGE, answer("ack", LISTENER, "3", (("l1", "v3"),)))
        hooks.on_disconnect(EDGE)
        await recorder.flush()
        assert (recorder.recorded, recorder.dropped) == (11, 0)
    finally:
        await recorder.close()

    everything = await read_deliveries(nats_server.url)
    assert len(everything) == 11
    edge = await read_deliveries(nats_server.url, node_id="envoy-1")
    assert [(d.kind, d.nonce, d.seq) for d in edge] == [
        ("connected", "", 0),
        ("sent", "1", 7),
        ("ack", "1", 7),
        ("sent", "2", 9),
        ("nack", "2", 9),
        ("sent", "3", 9),
        ("ack", "3", 9),
        ("disconnected", "", 0),
    ]
    nack = edge[4]
    assert (nack.resources, nack.error_code, nack.error_message) == ((("l1", "v2"),), 13, "cannot bind")
    assert [d.node_id for d in await read_deliveries(nats_server.url, gateway="other/gw")] == ["envoy.2"] * 3

    before_middle = [d for d in edge if d.at <= middle]
    assert await read_deliveries(nats_server.url, node_id="envoy-1", until=middle) == before_middle
    after_middle = await read_deliveries(nats_server.url, node_id="envoy-1", since=middle)
    assert [d.kind for d in after_middle] == ["sent", "ack", "disconnected"]

    at_middle = running_config(before_middle, "envoy-1")
    assert {name: a.version for name, a in at_middle.accepted[LISTENER].items()} == {"l1": "v1"}
    refused = at_middle.rejected[LISTENER]["l1"]
    assert (refused.version, refused.seq, refused.error_message) == ("v2", 9, "cannot bind")
    assert at_middle.connected
    at_end = running_config(edge, "envoy-1")
    assert {name: (a.version, a.seq) for name, a in at_end.accepted[LISTENER].items()} == {"l1": ("v3", 9)}
    assert at_end.rejected == {} and not at_end.connected

    connection = await nats.connect(nats_server.url)
    try:
        info = await connection.jsm().stream_info(DELIVERY_STREAM)
        assert info.config.max_age == 12 * 3600
    finally:
        await connection.close()


async def test_reading_before_any_delivery_finds_none(nats_server: NatsServerProcess) -> None:
    assert await read_deliveries(nats_server.url, node_id="nobody") == []


def many_names(count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"default/edge/http/host-{i}.shop.example.com", f"{i:016x}") for i in range(count))


async def test_the_ack_of_a_whole_large_configuration_is_recorded_in_parts(nats_server: NatsServerProcess) -> None:
    """An ACK of 20,000 VirtualHosts (over NATS's 1 MiB `max_payload` in one message) is recorded in parts, and
    what the Envoy runs then names every one of them."""
    recorder = DeliveryRecorder(nats_server.url, retention=timedelta(hours=1))
    await recorder.start()
    everything = many_names(20_000)
    try:
        hooks = recorder.hooks()
        hooks.on_response(EDGE, sent(VIRTUAL_HOST, "1"))
        hooks.on_ack(EDGE, answer("ack", VIRTUAL_HOST, "1", everything))
        await recorder.flush()
        assert recorder.dropped == 0
    finally:
        await recorder.close()
    acks = [d for d in await read_deliveries(nats_server.url, node_id="envoy-1") if d.kind == "ack"]
    assert len(acks) > 1 and [d.continued for d in acks] == [False] + [True] * (len(acks) - 1)
    running = running_config(await read_deliveries(nats_server.url, node_id="envoy-1"), "envoy-1")
    assert {name: a.version for name, a in running.accepted[VIRTUAL_HOST].items()} == dict(everything)


async def test_records_that_jetstream_does_not_store_count_as_dropped(nats_server: NatsServerProcess) -> None:
    recorder = DeliveryRecorder(nats_server.url, retention=timedelta(hours=1))
    await recorder.start()
    connection = await nats.connect(nats_server.url)
    try:
        await connection.jsm().delete_stream(DELIVERY_STREAM)  # nothing stores the records any more
        recorder.hooks().on_connect(EDGE)
        await recorder.flush()
        assert (recorder.recorded, recorder.dropped) == (0, 1)
    finally:
        await connection.close()
        await recorder.close()


def test_a_record_too_big_for_one_message_splits_into_parts_that_add_up() -> None:
    names = many_names(5_000)
    removed = tuple(f"gone-{i}" for i in range(300))
    base = Delivery(
        at=datetime(2026, 1, 1, tzinfo=UTC),
        kind="ack",
        node_id="n",
        gateway="g",
        stream_id=1,
        variant="sotw",
        replica="r",
        type_url=CLUSTER,
        nonce="7",
        resources=names,
        removed=removed,
    )
    payloads = delivery_payloads(base, 16 * 1024)
    parts = [msgspec.json.decode(p, type=Delivery) for p in payloads]
    assert len(parts) > 1 and all(len(p) <= 16 * 1024 for p in payloads)
    assert [p.continued for p in parts] == [False] + [True] * (len(parts) - 1)
    assert tuple(n for p in parts for n in p.resources) == names
    assert tuple(n for p in parts for n in p.removed) == removed
    assert {(p.kind, p.nonce, p.type_url) for p in parts} == {("ack", "7", CLUSTER)}
    # a state-of-the-world ACK replaces its type's set: its continued parts add to the first instead
    running = running_config(parts, "n")
    assert running.accepted[CLUSTER].keys() == dict(names).keys()
    small = msgspec.structs.replace(base, resources=names[:3], removed=())
    assert delivery_payloads(small, RECORD_BYTES_LIMIT) == [msgspec.json.encode(small)]


def test_compose_hooks_calls_each_in_turn() -> None:
    calls: list[str] = []
    first = XdsHooks(on_connect=lambda s: calls.append(f"a{s.stream_id}"))
    second = XdsHooks(on_connect=lambda s: calls.append(f"b{s.stream_id}"), on_ack=lambda s, a: calls.append(a.nonce))
    both = compose_hooks(first, second)
    both.on_connect(EDGE)
    both.on_ack(EDGE, answer("ack", LISTENER, "n", ()))
    both.on_nack(EDGE, answer("nack", LISTENER, "m", ()))
    assert calls == ["a1", "b1", "n"]
