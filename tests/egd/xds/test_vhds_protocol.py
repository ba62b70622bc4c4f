"""VHDS over delta ADS against the real server with a real grpcio client, asking as Envoy 1.40 does: an
empty `resource_names_subscribe` for VirtualHost (its watch matches by namespace, `<route configuration>/`)."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from projections import ir
from projections.xds.resources import ROUTE_CONFIGURATION, VIRTUAL_HOST
from projections.xds.translate import XdsTranslator, build_resource_set
from tests.egd.xds.conftest import GROUP, Server, Stream, delta_request, node
from tests.projections.xds.gateway_ir import GATEWAY

RC = f"{GATEWAY}/http/80"


def names(response: Any) -> list[str]:
    return sorted(r.name for r in response.resources)


def gateway(*hosts: str, path: str = "/") -> ir.GatewayIR:
    """One HTTP listener on port 80 with a virtual host per host, each with one route (the first's at `path`)."""
    listener = f"{GATEWAY}/http"
    virtual_hosts = tuple(
        ir.hashed(
            ir.VirtualHost(
                name=f"{listener}/{host}",
                hostname=host,
                routes=(
                    ir.hashed(
                        ir.HTTPRoute(
                            name=f"httproute/default/{host}/rule/0/match/0",
                            hostname=host,
                            path=ir.PathMatch(type="PathPrefix", value=path if host == hosts[0] else "/"),
                            direct_response=ir.DirectResponse(status=200),
                        )
                    ),
                ),
            )
        )
        for host in hosts
    )
    http = ir.HTTPListener(name=listener, address="0.0.0.0", port=80, virtual_hosts=virtual_hosts)
    return ir.hashed(ir.GatewayIR(name=GATEWAY, http=(ir.hashed(http),)))


async def test_route_configuration_then_its_virtual_hosts_then_one_per_change_and_removals(
    server: Server, channel: Any
) -> None:
    translator = XdsTranslator()
    server.bus.publish(GROUP, translator.update(gateway("a.example", "b.example")))
    stream = Stream(channel, delta=True)
    await stream.send(delta_request(ROUTE_CONFIGURATION, node=node(), resource_names_subscribe=[RC]))
    routes = await stream.recv()
    assert (routes.type_url, names(routes)) == (ROUTE_CONFIGURATION, [RC])
    configuration = route_pb2.RouteConfiguration()
    assert routes.resources[0].resource.Unpack(configuration)
    assert configuration.HasField("vhds") and not configuration.virtual_hosts

    await stream.send(delta_request(VIRTUAL_HOST))  # as Envoy: no names, a (legacy) wildcard
    hosts = await stream.recv()
    assert (hosts.type_url, names(hosts)) == (VIRTUAL_HOST, [f"{RC}/a.example", f"{RC}/b.example"])
    virtual_host = rc.VirtualHost()
    assert hosts.resources[0].resource.Unpack(virtual_host)
    assert virtual_host.name == hosts.resources[0].name  # Envoy removes a virtual host by its name
    assert list(virtual_host.domains) == ["a.example"]

    server.bus.publish(GROUP, translator.update(gateway("a.example", "b.example", path="/moved")))
    changed = await stream.recv()
    assert (changed.type_url, names(changed)) == (VIRTUAL_HOST, [f"{RC}/a.example"])
    assert await stream.nothing_within()

    server.bus.publish(GROUP, translator.update(gateway("a.example", path="/moved")))
    removed = await stream.recv()
    assert (removed.type_url, names(removed), list(removed.removed_resources)) == (
        VIRTUAL_HOST,
        [],
        [f"{RC}/b.example"],
    )

    server.bus.publish(GROUP, translator.update(gateway()))  # no virtual host left: a placeholder keeps VHDS warm
    placeholder = await stream.recv()
    assert names(placeholder) == [f"{RC}/_egd-no-virtual-host"]
    gone = await stream.recv()
    assert list(gone.removed_resources) == [f"{RC}/a.example"]
    stream.cancel()


async def test_virtual_hosts_wait_for_their_route_configuration_and_follow_each_time_it_is_sent(
    server: Server, channel: Any
) -> None:
    """Envoy drops a VirtualHost that comes before its RouteConfiguration (no watch for its namespace yet), and
    a route configuration it fetches again starts with no virtual host: so every RouteConfiguration sent is
    followed by all its virtual hosts, and no VirtualHost goes out while a RouteConfiguration is due."""
    server.bus.publish(GROUP, build_resource_set(gateway("a.example")))
    stream = Stream(channel, delta=True, auto_ack=False)
    await stream.send(delta_request(VIRTUAL_HOST, node=node()))
    first = await stream.recv()  # the first wildcard request is answered, whatever it may carry
    assert first.type_url == VIRTUAL_HOST
    await stream.send(delta_request(ROUTE_CONFIGURATION, resource_names_subscribe=[RC]))
    routes = await stream.recv()
    assert names(routes) == [RC]
    # answered in order on the stream, without waiting for the RouteConfiguration's ACK
    await stream.send(delta_request(VIRTUAL_HOST, response_nonce=first.nonce))
    again = await stream.recv()
    assert (again.type_url, names(again)) == (VIRTUAL_HOST, [f"{RC}/a.example"])
    await stream.send(delta_request(ROUTE_CONFIGURATION, response_nonce=routes.nonce))
    await stream.send(delta_request(VIRTUAL_HOST, response_nonce=again.nonce))
    assert await stream.nothing_within()

    # Envoy fetches the route configuration again (a listener re-created it): its virtual hosts follow
    await stream.send(delta_request(ROUTE_CONFIGURATION, resource_names_unsubscribe=[RC]))
    await stream.send(delta_request(ROUTE_CONFIGURATION, resource_names_subscribe=[RC]))
    resent = await stream.recv()
    assert names(resent) == [RC]
    await stream.send(delta_request(ROUTE_CONFIGURATION, response_nonce=resent.nonce))
    hosts = await stream.recv()
    assert (hosts.type_url, names(hosts)) == (VIRTUAL_HOST, [f"{RC}/a.example"])
    stream.cancel()


async def test_state_of_the_world_clients_keep_the_inline_route_configuration(server: Server, channel: Any) -> None:
    from envoy.service.discovery.v3 import discovery_pb2

    server.bus.publish(GROUP, build_resource_set(gateway("a.example")))
    stream = Stream(channel, delta=False)
    await stream.send(discovery_pb2.DiscoveryRequest(type_url=ROUTE_CONFIGURATION, node=node(), resource_names=[RC]))
    response = await stream.recv()
    configuration = route_pb2.RouteConfiguration()
    assert response.resources[0].Unpack(configuration)
    assert not configuration.HasField("vhds")
    assert [v.domains[0] for v in configuration.virtual_hosts] == ["a.example"]
    stream.cancel()
