"""State-of-the-world ADS against the real server with a real grpcio client (XDS-NOTES sections 4, 5, 11, B4)."""

from __future__ import annotations

from typing import Any

import grpc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.rpc import status_pb2

from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    RATE_LIMIT_CONFIG,
    ROUTE_CONFIGURATION,
    resource_set,
)
from tests.egd.xds.builders import cluster, endpoints, listener, route
from tests.egd.xds.conftest import GROUP, Recorded, Server, Stream, node


def request(type_url: str, names: list[str] | None = None, **fields: Any) -> discovery_pb2.DiscoveryRequest:
    return discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names or [], **fields)


def names_in(response: Any, message_class: Any) -> list[str]:
    found = []
    for packed in response.resources:
        message = message_class()
        packed.Unpack(message)
        found.append(getattr(message, "cluster_name", "") or message.name)
    return found


def rate_limit_config_class() -> Any:
    """`ratelimit.config.ratelimit.v3.RateLimitConfig` (name, domain): xds-protos does not ship it."""
    proto = descriptor_pb2.FileDescriptorProto(name="test_rls_conf.proto", package="ratelimit.config.ratelimit.v3")
    message = proto.message_type.add(name="RateLimitConfig")
    for number, field_name in ((1, "name"), (2, "domain")):
        message.field.add(name=field_name, number=number, type=9, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ratelimit.config.ratelimit.v3.RateLimitConfig"))


async def test_listeners_full_state_initial_empty_answer_and_deletion_by_absence(
    server: Server, channel: grpc.aio.Channel
) -> None:
    server.bus.publish(GROUP, resource_set([]))
    stream = Stream(channel, delta=False)
    await stream.send(request(LISTENER, node=node()))
    first = await stream.recv()
    assert (first.type_url, list(first.resources), first.nonce != "", first.version_info != "") == (
        LISTENER,
        [],
        True,
        True,
    )
    server.bus.publish(GROUP, resource_set([listener("a", 1, "r"), listener("b", 2, "r")]))
    assert names_in(await stream.recv(), listener_pb2.Listener) == ["a", "b"]
    server.bus.publish(GROUP, resource_set([listener("b", 2, "r")]))
    assert names_in(await stream.recv(), listener_pb2.Listener) == ["b"]
    assert await stream.nothing_within()


async def test_stale_nonce_is_ignored(server: Server, recorded: Recorded) -> None:
    from envoy.config.endpoint.v3 import endpoint_pb2

    server.servicer._answer_timeout = 0.2
    server.bus.publish(GROUP, resource_set([endpoints("a", 1), endpoints("b", 2)]))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stream = Stream(channel, delta=False, auto_ack=False)
        await stream.send(request(CLUSTER_LOAD_ASSIGNMENT, ["a"], node=node()))
        first = await stream.recv()
        server.bus.publish(GROUP, resource_set([endpoints("a", 3), endpoints("b", 2)]))
        second = await stream.recv()  # not answered in time: the server went on
        # a request answering the first (now stale) response, asking for b too: ignored entirely
        await stream.send(
            request(CLUSTER_LOAD_ASSIGNMENT, ["a", "b"], response_nonce=first.nonce, version_info=first.version_info)
        )
        assert await stream.nothing_within(0.5)
        assert recorded.acks == []
        # answering the latest nonce with the same change is honoured: b goes out (endpoints are a partial-state
        # type: a response carries what changed or was asked for anew, and the client keeps its a)
        await stream.send(
            request(CLUSTER_LOAD_ASSIGNMENT, ["a", "b"], response_nonce=second.nonce, version_info=second.version_info)
        )
        assert names_in(await stream.recv(), endpoint_pb2.ClusterLoadAssignment) == ["b"]
        assert [a.nonce for _, a in recorded.acks] == [second.nonce]


async def test_resubscribing_a_name_resends_it(server: Server, channel: grpc.aio.Channel) -> None:
    server.bus.publish(GROUP, resource_set([route("r", "c")]))
    stream = Stream(channel, delta=False)
    await stream.send(request(ROUTE_CONFIGURATION, ["r"], node=node()))
    first = await stream.recv()
    assert names_in(first, route_pb2.RouteConfiguration) == ["r"]
    await stream.send(request(ROUTE_CONFIGURATION, [], response_nonce=first.nonce, version_info=first.version_info))
    assert await stream.nothing_within()  # an emptied partial-state subscription needs no answer
    await stream.send(request(ROUTE_CONFIGURATION, ["r"], response_nonce=first.nonce, version_info=first.version_info))
    again = await stream.recv()
    assert names_in(again, route_pb2.RouteConfiguration) == ["r"]


async def test_nack_is_recorded_and_not_answered_with_the_same_content(
    server: Server, channel: grpc.aio.Channel, recorded: Recorded
) -> None:
    server.bus.publish(GROUP, resource_set([cluster("a")]))
    stream = Stream(channel, delta=False, auto_ack=False)
    await stream.send(request(CLUSTER, node=node(node_id="sotw-nacker")))
    first = await stream.recv()
    await stream.send(
        request(
            CLUSTER,
            response_nonce=first.nonce,
            version_info="",  # a NACK carries the previous (here: no) version
            error_detail=status_pb2.Status(code=3, message="bad cluster"),
        )
    )
    assert await stream.nothing_within(0.5)
    assert [(i.node_id, n.kind, n.error_message) for i, n in recorded.nacks] == [("sotw-nacker", "nack", "bad cluster")]


async def test_a_first_request_with_a_nonce_from_an_older_stream_is_initial(
    server: Server, channel: grpc.aio.Channel
) -> None:
    from envoy.config.cluster.v3 import cluster_pb2

    server.bus.publish(GROUP, resource_set([cluster("a")]))
    stream = Stream(channel, delta=False)
    await stream.send(request(CLUSTER, node=node(), response_nonce="42", version_info="old"))
    assert names_in(await stream.recv(), cluster_pb2.Cluster) == ["a"]


async def test_a_cluster_change_resends_endpoints(server: Server, channel: grpc.aio.Channel) -> None:
    server.bus.publish(GROUP, resource_set([cluster("a"), endpoints("a", 1)]))
    stream = Stream(channel, delta=False)
    await stream.send(request(CLUSTER, node=node()))
    assert (await stream.recv()).type_url == CLUSTER
    await stream.send(request(CLUSTER_LOAD_ASSIGNMENT, ["a"]))
    assert (await stream.recv()).type_url == CLUSTER_LOAD_ASSIGNMENT
    server.bus.publish(GROUP, resource_set([cluster("a", connect_timeout_ms=5), endpoints("a", 1)]))
    assert [(await stream.recv()).type_url for _ in range(2)] == [CLUSTER, CLUSTER_LOAD_ASSIGNMENT]


async def test_rate_limit_configs_every_response_carries_all_and_the_empty_initial_is_answered(
    server: Server, channel: grpc.aio.Channel
) -> None:
    rate_limit_config = rate_limit_config_class()
    server.bus.publish(GROUP, resource_set([]))
    stream = Stream(channel, delta=False)
    # envoyproxy/ratelimit: legacy wildcard, with node.id "default"
    await stream.send(request(RATE_LIMIT_CONFIG, node=node(node_id="default")))
    empty = await stream.recv()
    assert (empty.type_url, list(empty.resources)) == (RATE_LIMIT_CONFIG, [])
    one, two = rate_limit_config(name="one", domain="d1"), rate_limit_config(name="two", domain="d2")
    server.bus.publish(GROUP, resource_set([one, two]))
    assert names_in(await stream.recv(), rate_limit_config) == ["one", "two"]
    server.bus.publish(GROUP, resource_set([one, rate_limit_config(name="two", domain="d2-changed")]))
    changed = await stream.recv()
    assert names_in(changed, rate_limit_config) == ["one", "two"]  # the unchanged one too
    assert changed.resources[0].type_url == RATE_LIMIT_CONFIG


async def test_a_request_with_no_names_asks_for_nothing_except_of_the_wildcard_types(
    server: Server, recorded: Recorded
) -> None:
    """A reconnecting Envoy asks again for every type it ever watched, with no names for those it no longer
    watches; it takes an answer to those without ACKing it. Answered, the listeners would wait for that ACK
    (make-before-break) until the answer timeout; so only listeners, clusters and rate-limit configs take an
    empty list as a wildcard."""
    server.servicer._answer_timeout = 5.0
    server.bus.publish(GROUP, resource_set([endpoints("a", 1), listener("l", 10000, "r")]))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stream = Stream(channel, delta=False, auto_ack=False)
        await stream.send(request(CLUSTER_LOAD_ASSIGNMENT, [], node=node()))
        await stream.send(request(ROUTE_CONFIGURATION, []))
        assert await stream.nothing_within(0.3)
        await stream.send(request(LISTENER, []))
        assert names_in(await stream.recv(within=1.0), listener_pb2.Listener) == ["l"]


async def test_a_refused_response_holds_back_no_other_resource_of_a_partial_type(
    server: Server, channel: grpc.aio.Channel
) -> None:
    """Route configurations (like endpoints and secrets) go out when they change, each response with what
    changed only: Envoy applies them watch by watch and stops at the first it refuses. A response of several
    that Envoy refuses goes out again one resource per response; the refused one is not sent again."""
    stream = Stream(channel, delta=False, auto_ack=False)
    server.bus.publish(GROUP, resource_set([route("a", "c1"), route("b", "c1")]))
    await stream.send(request(ROUTE_CONFIGURATION, ["a", "b"], node=node()))
    first = await stream.recv()
    assert names_in(first, route_pb2.RouteConfiguration) == ["a", "b"]
    await stream.send(stream.ack_of(first))
    server.bus.publish(GROUP, resource_set([route("a", "bad"), route("b", "c2")]))
    both = await stream.recv()
    assert names_in(both, route_pb2.RouteConfiguration) == ["a", "b"]
    error = status_pb2.Status(code=3, message="a is bad")
    await stream.send(request(ROUTE_CONFIGURATION, ["a", "b"], response_nonce=both.nonce, error_detail=error))
    alone = await stream.recv()
    assert names_in(alone, route_pb2.RouteConfiguration) == ["a"]
    await stream.send(request(ROUTE_CONFIGURATION, ["a", "b"], response_nonce=alone.nonce, error_detail=error))
    taken = await stream.recv()
    assert names_in(taken, route_pb2.RouteConfiguration) == ["b"]
    await stream.send(stream.ack_of(taken))
    assert await stream.nothing_within()
    server.bus.publish(GROUP, resource_set([route("a", "bad"), route("b", "c3")]))
    changed = await stream.recv()
    assert names_in(changed, route_pb2.RouteConfiguration) == ["b"]  # not a, refused and unchanged


async def test_a_request_repeating_an_answered_nonce_is_no_ack(server: Server, recorded: Recorded) -> None:
    """Envoy repeats the nonce of the last response with every later request (a new subscription): after a
    NACK, such a request must not count as taking the refused version."""
    server.bus.publish(GROUP, resource_set([route("r", "c"), route("s", "c")]))
    async with grpc.aio.insecure_channel(server.address) as channel:
        stream = Stream(channel, delta=False, auto_ack=False)
        await stream.send(request(ROUTE_CONFIGURATION, ["r"], node=node()))
        first = await stream.recv()
        await stream.send(stream.ack_of(first))
        server.bus.publish(GROUP, resource_set([route("r", "bad"), route("s", "c")]))
        refused = await stream.recv()
        error = status_pb2.Status(code=3, message="bad")
        await stream.send(request(ROUTE_CONFIGURATION, ["r"], response_nonce=refused.nonce, error_detail=error))
        await stream.send(request(ROUTE_CONFIGURATION, ["r", "s"], response_nonce=refused.nonce))
        assert names_in(await stream.recv(), route_pb2.RouteConfiguration) == ["s"]
        (connected,) = server.servicer.streams.values()
        assert connected.state.subscriptions[ROUTE_CONFIGURATION].acked_version == first.version_info
        assert (len(recorded.acks), len(recorded.nacks)) == (1, 1)
