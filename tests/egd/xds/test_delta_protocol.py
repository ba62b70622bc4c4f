"""Delta ADS against the real server with a real grpcio client: each rule of XDS-NOTES sections 3-9, 12."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.rpc import status_pb2

from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    resource_set,
    versioned,
)
from tests.egd.xds.builders import cluster, endpoints, listener, route
from tests.egd.xds.conftest import GROUP, Recorded, Server, Stream, delta_request, node


def names(response: Any) -> list[str]:
    return sorted(r.name for r in response.resources)


def versions(response: Any) -> dict[str, str]:
    return {r.name: r.version for r in response.resources}


def ack(response: Any, **fields: Any) -> Any:
    return delta_request(response.type_url, response_nonce=response.nonce, **fields)


def nack(response: Any, message: str) -> Any:
    return delta_request(
        response.type_url, response_nonce=response.nonce, error_detail=status_pb2.Status(code=3, message=message)
    )


async def open_stream(channel: grpc.aio.Channel, *, auto_ack: bool = True) -> Stream:
    return Stream(channel, delta=True, auto_ack=auto_ack)


async def test_legacy_wildcard_gets_everything_and_answers_even_when_empty(server: Server, channel: Any) -> None:
    server.bus.publish(GROUP, resource_set([]))
    stream = await open_stream(channel)
    await stream.send(delta_request(CLUSTER, node=node()))
    empty = await stream.recv()
    assert (empty.type_url, list(empty.resources), list(empty.removed_resources)) == (CLUSTER, [], [])
    assert empty.nonce

    server.bus.publish(GROUP, resource_set([cluster("a"), cluster("b")]))
    update = await stream.recv()
    assert names(update) == ["a", "b"]
    assert update.resources[0].resource.type_url == CLUSTER
    unpacked = cluster_pb2.Cluster()
    assert update.resources[0].resource.Unpack(unpacked)
    assert unpacked.name == "a"
    assert update.resources[0].version == versioned(cluster("a")).version
    assert update.nonce != empty.nonce


async def test_a_node_without_config_is_answered_when_its_config_appears(server: Server, channel: Any) -> None:
    stream = await open_stream(channel)
    await stream.send(delta_request(LISTENER, node=node()))
    assert await stream.nothing_within(0.3)
    server.bus.publish("other/gw", resource_set([listener("other", 1, "r")]))
    assert await stream.nothing_within(0.3)
    server.bus.publish(GROUP, resource_set([listener("l", 10000, "r")]))
    assert names(await stream.recv()) == ["l"]


async def test_once_everything_is_published_a_node_without_config_is_told_it_has_none(
    server: Server, channel: Any
) -> None:
    """After start-up (`LatestValues.settle`), a node group never published holds nothing: a new node gets the
    empty answer, and one reconnecting with the configuration of a Gateway deleted while egd was away is told
    to remove it (XDS-NOTES 7 and 8)."""
    fresh = await open_stream(channel)
    await fresh.send(delta_request(LISTENER, node=node()))
    held = await open_stream(channel)
    old_listener = listener("l", 10000, "r")
    await held.send(
        delta_request(LISTENER, node=node(), initial_resource_versions={"l": versioned(old_listener).version})
    )
    assert await fresh.nothing_within() and await held.nothing_within(0.0)
    server.bus.settle(resource_set([]))
    empty = await fresh.recv()
    assert (empty.type_url, list(empty.resources), list(empty.removed_resources)) == (LISTENER, [], [])
    assert (await held.recv()).resources == []  # the first wildcard request's answer
    assert list((await held.recv()).removed_resources) == ["l"]
    server.bus.publish(GROUP, resource_set([old_listener]))
    assert names(await fresh.recv()) == names(await held.recv()) == ["l"]


async def test_a_node_whose_configuration_could_not_be_built_is_not_told_it_has_none(
    server: Server, channel: Any
) -> None:
    """A Gateway whose xDS build failed (`LatestValues.withhold`) is not known to have nothing: its reconnecting
    Envoys keep what they hold, also once everything else is published, until its configuration is."""
    held = await open_stream(channel)
    kept = listener("l", 10000, "r")
    await held.send(delta_request(LISTENER, node=node(), initial_resource_versions={"l": versioned(kept).version}))
    server.bus.withhold(GROUP)
    server.bus.settle(resource_set([]))
    assert await held.nothing_within()
    server.bus.publish(GROUP, resource_set([kept]))
    assert (await held.recv()).resources == []  # the first wildcard request's answer: it holds "l" already
    assert await held.nothing_within()


async def test_explicit_wildcard_and_names_subscribe_and_unsubscribe(server: Server, channel: Any) -> None:
    server.bus.publish(GROUP, resource_set([cluster("a"), cluster("b"), cluster("c")]))
    stream = await open_stream(channel)
    await stream.send(delta_request(CLUSTER, node=node(), resource_names_subscribe=["*"]))
    everything = await stream.recv()
    assert names(everything) == ["a", "b", "c"]

    # `*` + explicit a: a is answered again although the client holds it (it may have forgotten it)
    await stream.send(delta_request(CLUSTER, resource_names_subscribe=["a"]))
    assert names(await stream.recv()) == ["a"]
    # unsubscribe a while still on `*`: a is in the wildcard set, so it is answered again
    await stream.send(delta_request(CLUSTER, resource_names_unsubscribe=["a"]))
    assert names(await stream.recv()) == ["a"]
    # unsubscribe `*`: nothing to answer, the client drops what it no longer wants
    await stream.send(delta_request(CLUSTER, resource_names_unsubscribe=["*"]))
    assert await stream.nothing_within()
    # now explicit only: subscribe b gets b; a change to c is not sent any more
    await stream.send(delta_request(CLUSTER, resource_names_subscribe=["b"]))
    assert names(await stream.recv()) == ["b"]
    server.bus.publish(GROUP, resource_set([cluster("a"), cluster("b"), cluster("c", connect_timeout_ms=2000)]))
    assert await stream.nothing_within()
    # unsubscribe b, then resubscribe it: answered again, unchanged as it is (gcp#583)
    await stream.send(delta_request(CLUSTER, resource_names_unsubscribe=["b"]))
    assert await stream.nothing_within()
    await stream.send(delta_request(CLUSTER, resource_names_subscribe=["b"]))
    assert names(await stream.recv()) == ["b"]
    # unknown names in unsubscribe are ignored
    await stream.send(delta_request(CLUSTER, resource_names_unsubscribe=["nope"]))
    assert await stream.nothing_within()


async def test_explicit_names_for_endpoints_missing_ones_removed_then_sent_when_they_appear(
    server: Server, channel: Any
) -> None:
    server.bus.publish(GROUP, resource_set([endpoints("a", 80)]))
    stream = await open_stream(channel)
    await stream.send(delta_request(CLUSTER_LOAD_ASSIGNMENT, node=node(), resource_names_subscribe=["a", "b"]))
    first = await stream.recv()
    assert names(first) == ["a"]
    missing = await stream.recv()
    assert (list(missing.resources), list(missing.removed_resources)) == ([], ["b"])
    # still subscribed: b is delivered as soon as it exists; a, unchanged, is not resent
    server.bus.publish(GROUP, resource_set([endpoints("a", 80), endpoints("b", 81)]))
    appeared = await stream.recv()
    assert names(appeared) == ["b"]
    got = endpoint_pb2.ClusterLoadAssignment()
    appeared.resources[0].resource.Unpack(got)
    assert got.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value == 81


async def test_removed_resources_for_deleted_ones(server: Server, channel: Any) -> None:
    server.bus.publish(GROUP, resource_set([listener("x", 1, "r"), listener("y", 2, "r")]))
    stream = await open_stream(channel)
    await stream.send(delta_request(LISTENER, node=node()))
    assert names(await stream.recv()) == ["x", "y"]
    server.bus.publish(GROUP, resource_set([listener("y", 2, "r")]))
    removal = await stream.recv()
    assert (list(removal.resources), list(removal.removed_resources)) == ([], ["x"])


async def test_nack_is_recorded_each_resource_is_sent_again_alone_and_the_rejected_version_not_resent(
    server: Server, channel: Any, recorded: Recorded
) -> None:
    """Envoy refuses a response whole: of a NACKed [a, b], each goes out again alone; b is taken, a (refused
    alone) is not sent again until it changes."""
    server.bus.publish(GROUP, resource_set([cluster("a"), cluster("b")]))
    stream = await open_stream(channel, auto_ack=False)
    await stream.send(delta_request(CLUSTER, node=node(node_id="nacker")))
    first = await stream.recv()
    assert names(first) == ["a", "b"]
    await stream.send(nack(first, "cluster a: bad"))
    alone = await stream.recv()
    assert names(alone) == ["a"]
    await stream.send(nack(alone, "cluster a: bad"))
    other = await stream.recv()
    assert names(other) == ["b"]
    await stream.send(ack(other))
    assert await stream.nothing_within(0.5)  # no resend loop
    assert len(recorded.nacks) == 2
    info, nacked = recorded.nacks[0]
    assert (info.node_id, nacked.type_url, nacked.nonce, nacked.error_message) == (
        "nacker",
        CLUSTER,
        first.nonce,
        "cluster a: bad",
    )
    assert nacked.response is not None
    assert dict(nacked.response.resources) == versions(first)
    assert server.servicer.streams[info.stream_id].nacks[-1] == recorded.nacks[1][1]
    # keep serving: the next change goes out, only what changed
    server.bus.publish(GROUP, resource_set([cluster("a", connect_timeout_ms=3000), cluster("b")]))
    fixed = await stream.recv()
    assert names(fixed) == ["a"]
    await stream.send(ack(fixed))
    await asyncio.sleep(0.1)
    acked = server.servicer.streams[info.stream_id].acked_versions()[CLUSTER]
    assert acked == {"a": versions(fixed)["a"], "b": versions(other)["b"]}
    assert [a.nonce for _, a in recorded.acks] == [other.nonce, fixed.nonce]


async def test_nonces_are_per_type_answers_and_a_cluster_ack_is_apart_from_a_route_nack(
    server: Server, channel: Any, recorded: Recorded
) -> None:
    server.bus.publish(GROUP, resource_set([cluster("a"), route("r", "a")]))
    stream = await open_stream(channel, auto_ack=False)
    await stream.send(delta_request(CLUSTER, node=node()))
    clusters = await stream.recv()
    await stream.send(ack(clusters))
    await stream.send(delta_request(CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe=["a"]))
    missing = await stream.recv()  # (cluster a has no endpoints here)
    await stream.send(ack(missing))
    await stream.send(delta_request(ROUTE_CONFIGURATION, resource_names_subscribe=["r"]))
    routes = await stream.recv()
    assert clusters.nonce != routes.nonce
    await stream.send(nack(routes, "bad route"))
    # the route NACK does not hold up clusters
    server.bus.publish(GROUP, resource_set([cluster("a", connect_timeout_ms=7), route("r", "a")]))
    update = await stream.recv()
    assert (update.type_url, names(update)) == (CLUSTER, ["a"])
    await stream.send(ack(update))
    await asyncio.sleep(0.1)
    assert [(a.type_url, a.kind) for _, a in recorded.acks] == [
        (CLUSTER, "ack"),
        (CLUSTER_LOAD_ASSIGNMENT, "ack"),
        (CLUSTER, "ack"),
    ]
    assert [(a.type_url, a.kind, a.error_message) for _, a in recorded.nacks] == [
        (ROUTE_CONFIGURATION, "nack", "bad route")
    ]


async def test_responses_wait_for_answers_and_a_silent_client_is_not_waited_for_forever(
    server: Server, recorded: Recorded
) -> None:
    server.servicer._answer_timeout = 0.5
    server.bus.publish(GROUP, resource_set([cluster("a"), listener("l", 1, "r")]))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stream = await open_stream(channel, auto_ack=False)
        await stream.send(delta_request(CLUSTER, node=node()))
        await stream.send(delta_request(LISTENER))
        assert (await stream.recv()).type_url == CLUSTER
        assert await stream.nothing_within(0.3)  # listeners wait for the clusters' ACK...
        assert (await stream.recv(within=1.0)).type_url == LISTENER  # ...but not for ever


async def test_reconnect_with_initial_resource_versions_sends_only_what_differs(server: Server, channel: Any) -> None:
    kept, changed, gone = cluster("kept"), cluster("changed"), cluster("gone")
    server.bus.publish(GROUP, resource_set([kept, cluster("changed", connect_timeout_ms=5), cluster("new")]))
    stream = await open_stream(channel)
    await stream.send(
        delta_request(
            CLUSTER,
            node=node(),
            response_nonce="17",  # a nonce from the previous stream: meaningless here
            initial_resource_versions={
                "kept": versioned(kept).version,
                "changed": versioned(changed).version,
                "gone": versioned(gone).version,
            },
        )
    )
    updates = await stream.recv()
    assert names(updates) == ["changed", "new"]
    removals = await stream.recv()
    assert list(removals.removed_resources) == ["gone"]
    assert await stream.nothing_within()


async def test_reconnect_explicit_names_in_both_subscribe_and_initial_versions(server: Server, channel: Any) -> None:
    server.bus.publish(GROUP, resource_set([endpoints("same", 1), endpoints("moved", 3)]))
    stream = await open_stream(channel)
    await stream.send(
        delta_request(
            CLUSTER_LOAD_ASSIGNMENT,
            node=node(),
            resource_names_subscribe=["same", "moved"],
            initial_resource_versions={
                "same": versioned(endpoints("same", 1)).version,
                "moved": versioned(endpoints("moved", 2)).version,
            },
        )
    )
    assert names(await stream.recv()) == ["moved"]
    assert await stream.nothing_within()


async def test_make_before_break_order_and_endpoints_resent_after_a_cluster_change(
    server: Server, channel: Any
) -> None:
    server.bus.publish(
        GROUP, resource_set([cluster("old"), endpoints("old", 1), listener("l", 1, "r"), route("r", "old")])
    )
    stream = await open_stream(channel)
    await stream.send(delta_request(CLUSTER, node=node()))
    await stream.send(delta_request(LISTENER))
    await stream.send(delta_request(CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe=["old"]))
    await stream.send(delta_request(ROUTE_CONFIGURATION, resource_names_subscribe=["r"]))
    seen = set()
    while len(seen) < 4:
        seen.add((await stream.recv()).type_url)
    assert await stream.nothing_within()
    await stream.send(delta_request(CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe=["new"]))
    assert list((await stream.recv()).removed_resources) == ["new"]  # does not exist yet

    # repoint the route from old to new, in one publish
    server.bus.publish(
        GROUP, resource_set([cluster("new"), endpoints("new", 2), listener("l", 1, "r"), route("r", "new")])
    )
    order = []
    for _ in range(5):
        response = await stream.recv()
        order.append((response.type_url, names(response), list(response.removed_resources)))
    assert order == [
        (CLUSTER, ["new"], []),
        (CLUSTER_LOAD_ASSIGNMENT, ["new"], []),
        (ROUTE_CONFIGURATION, ["r"], []),
        (CLUSTER_LOAD_ASSIGNMENT, [], ["old"]),
        (CLUSTER, [], ["old"]),
    ]
    # a change to the cluster alone sends its (unchanged) endpoints again: Envoy warms it until they arrive
    server.bus.publish(
        GROUP,
        resource_set(
            [cluster("new", connect_timeout_ms=9), endpoints("new", 2), listener("l", 1, "r"), route("r", "new")]
        ),
    )
    assert [(await stream.recv()).type_url for _ in range(2)] == [CLUSTER, CLUSTER_LOAD_ASSIGNMENT]
    assert await stream.nothing_within()


async def test_invalid_request_without_type_url_ends_the_stream(server: Server, channel: Any) -> None:
    stream = await open_stream(channel)
    await stream.send(delta_request("", node=node()))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stream.recv()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_per_stream_state_is_released_when_the_stream_closes(
    server: Server, channel: Any, recorded: Recorded
) -> None:
    server.bus.publish(GROUP, resource_set([cluster("a")]))
    streams = [await open_stream(channel) for _ in range(3)]
    for i, stream in enumerate(streams):
        await stream.send(delta_request(CLUSTER, node=node(node_id="same-node")))
        assert names(await stream.recv()) == ["a"], i  # every stream of one node gets the node's config
    assert len(server.servicer.streams) == 3
    assert server.bus.watcher_count(GROUP) == 3
    for stream in streams:
        stream.cancel()
    for _ in range(50):
        if not server.servicer.streams:
            break
        await asyncio.sleep(0.02)
    assert server.servicer.streams == {}
    assert server.bus.watcher_count() == 0
    assert len(recorded.disconnected) == 3


async def test_a_slow_stream_gets_coalesced_versions_in_order_and_does_not_hold_up_a_fast_one(
    server: Server,
) -> None:
    big = "x" * 400_000  # big enough to fill the HTTP/2 windows of a client that does not read

    def version(i: int) -> Any:
        c = cluster("big")
        c.metadata.filter_metadata["egd"].update({"i": i, "pad": big})
        return resource_set([c])

    options = [("grpc.http2.bdp_probe", 0), ("grpc.max_receive_message_length", 16 << 20)]
    async with (
        grpc.aio.insecure_channel(server.address, options=options) as slow_channel,
        grpc.aio.insecure_channel(server.address, options=options) as fast_channel,
    ):
        server.bus.publish(GROUP, version(0))
        slow, fast = Stream(slow_channel, delta=True, reading=False), Stream(fast_channel, delta=True)
        await slow.send(delta_request(CLUSTER, node=node(node_id="slow")))
        await fast.send(delta_request(CLUSTER, node=node(node_id="fast")))
        fast_seen = [await fast.recv()]
        for i in range(1, 30):
            server.bus.publish(GROUP, version(i))
            fast_seen.append(await fast.recv())  # the fast one is served while the slow one does not read

        def number(response: Any) -> int:
            unpacked = cluster_pb2.Cluster()
            response.resources[0].resource.Unpack(unpacked)
            return int(unpacked.metadata.filter_metadata["egd"]["i"])

        assert [number(r) for r in fast_seen] == list(range(30))
        slow.start_reading()
        slow_seen = [number(await slow.recv())]
        while slow_seen[-1] != 29:
            slow_seen.append(number(await slow.recv()))
        assert slow_seen == sorted(slow_seen)  # never an older version after a newer one
        assert len(slow_seen) < 30  # intermediate versions were coalesced
        print("slow stream saw versions", slow_seen)


async def test_a_reconnecting_client_holding_more_than_4_mib_of_resources_gets_through(
    server: Server, channel: Any
) -> None:
    """grpc refuses requests over 4 MiB by default: an Envoy holding some 40,000 resources of a type could then
    never reconnect. Here 45,000 reported (5 MB of `initial_resource_versions`): all but one gone."""
    kept = cluster("kept")
    server.bus.publish(GROUP, resource_set([kept]))
    reported = {f"cluster-{i:06d}-{'x' * 32}": "v" * 64 for i in range(45_000)}
    reported["kept"] = versioned(kept).version
    request = delta_request(CLUSTER, node=node(), initial_resource_versions=reported)
    assert request.ByteSize() > 5_000_000
    stream = await open_stream(channel)
    await stream.send(request)
    answer = await stream.recv(within=20)  # the first wildcard request's answer: nothing differs from "kept"
    assert (list(answer.resources), list(answer.removed_resources)) == ([], [])
    removals = await stream.recv(within=20)
    assert len(removals.removed_resources) == 45_000 and "kept" not in removals.removed_resources
    assert await stream.nothing_within()
