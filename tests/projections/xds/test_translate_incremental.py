"""XdsTranslator: incremental updates equal builds from scratch, spliced bytes equal whole-message bytes,
and a change touches only the resources that depend on it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import yaml
from google.protobuf import any_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import ir
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    VIRTUAL_HOST,
    ResourceSet,
    diff,
)
from projections.xds.translate import XdsFleet, XdsTranslator, build_resource_set
from projections.xds.translate.clusters import build_split_cluster
from projections.xds.translate.names import http_route_configuration_name
from projections.xds.translate.render import decode_resource
from projections.xds.translate.routes import build_route_configuration
from tests.projections.xds.gateway_ir import GATEWAY, gateway_irs, with_route

TESTDATA = Path(__file__).resolve().parents[2] / "testdata" / "xds"
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(gateway_irs(), min_size=1, max_size=4))
def test_incremental_equals_from_scratch(sequence: list[ir.GatewayIR]) -> None:
    translator = XdsTranslator()
    previous = ResourceSet()
    for gateway in sequence:
        update = translator.apply(gateway)
        scratch = build_resource_set(gateway)
        assert update.resources == scratch  # same names, versions and bytes
        assert update.changes == diff(previous, scratch)
        assert update.delta_changes == diff(previous.delta_view(), scratch.delta_view())
        previous = scratch


@PROPERTY
@given(gateway_irs())
def test_spliced_bytes_are_the_canonical_serialisation(gateway: ir.GatewayIR) -> None:
    """Every resource parses, and re-serialises to the very bytes that were spliced together."""
    resources = build_resource_set(gateway)
    for type_url, named in resources.by_type.items():
        for name, resource in named.items():
            message = decode_resource(type_url, resource.body)
            value = any_pb2.Any.FromString(resource.body).value
            assert message.SerializeToString(deterministic=True) == value, name


@PROPERTY
@given(gateway_irs())
def test_route_configurations_equal_messages_built_at_once(gateway: ir.GatewayIR) -> None:
    resources = build_resource_set(gateway)
    metrics = gateway.telemetry.metrics if gateway.telemetry is not None else None
    stats = metrics is not None and metrics.virtual_host_stats
    for listener in gateway.http:
        if listener.tls is None:
            continue
        http3_port = listener.port if listener.client is not None and listener.client.http3 else None
        expected = build_route_configuration(
            listener.name, listener.virtual_hosts, http3_port, virtual_host_stats=stats
        )
        got = decode_resource(ROUTE_CONFIGURATION, resources.of_type(ROUTE_CONFIGURATION)[listener.name].body)
        assert got == expected


def _one_listener_gateway(routes: int) -> ir.GatewayIR:
    destinations = tuple(
        ir.hashed(ir.Destination(name=f"service/default/s{i}/80", endpoints=(ir.Endpoint(address=f"10.0.0.{i}"),)))
        for i in range(10)
    )
    hosts = []
    for h in range(10):
        hostname = f"h{h}.example.com"
        rs = tuple(
            ir.hashed(
                ir.HTTPRoute(
                    name=f"httproute/default/r{h}-{r}/rule/0/match/0",
                    hostname=hostname,
                    path=ir.PathMatch(type="PathPrefix", value=f"/p{r}"),
                    backends=(ir.WeightedBackend(destination=f"service/default/s{r % 10}/80", weight=1),),
                )
            )
            for r in range(routes // 10)
        )
        hosts.append(ir.hashed(ir.VirtualHost(name=f"{GATEWAY}/http/{hostname}", hostname=hostname, routes=rs)))
    listener = ir.hashed(
        ir.HTTPListener(name=f"{GATEWAY}/http", address="0.0.0.0", port=80, virtual_hosts=tuple(hosts))
    )
    return ir.hashed(ir.GatewayIR(name=GATEWAY, http=(listener,), destinations=destinations))


def test_one_route_changed_updates_one_route_configuration_only() -> None:
    gateway = _one_listener_gateway(200)
    translator = XdsTranslator()
    before = translator.update(gateway)
    old = gateway.http[0].virtual_hosts[3].routes[5]
    new = ir.hashed(msgspec.structs.replace(old, path=ir.PathMatch(type="Exact", value="/x")))
    changed = with_route(gateway, 0, 3, 5, new)
    update = translator.apply(changed)
    assert list(update.changes) == [ROUTE_CONFIGURATION]
    assert update.changes[ROUTE_CONFIGURATION].updated == (http_route_configuration_name(GATEWAY, 80),)
    for type_url in (LISTENER, CLUSTER, CLUSTER_LOAD_ASSIGNMENT):
        assert update.resources.of_type(type_url) is before.of_type(type_url)  # shared, not rebuilt
    assert update.resources == build_resource_set(changed)


def test_reordering_rules_or_adding_routes_never_renames_or_rebuilds_clusters() -> None:
    gateway = _one_listener_gateway(100)
    translator = XdsTranslator()
    before = translator.update(gateway)
    host = gateway.http[0].virtual_hosts[0]
    reordered_host = ir.hashed(msgspec.structs.replace(host, routes=tuple(reversed(host.routes))))
    added = ir.hashed(msgspec.structs.replace(host, name=f"{GATEWAY}/http/new.example.com", hostname="new.example.com"))
    listener = ir.hashed(
        msgspec.structs.replace(
            gateway.http[0], virtual_hosts=(reordered_host, *gateway.http[0].virtual_hosts[1:], added)
        )
    )
    after = translator.update(ir.hashed(msgspec.structs.replace(gateway, http=(listener,))))
    assert after.of_type(CLUSTER) is before.of_type(CLUSTER)
    assert after.of_type(CLUSTER_LOAD_ASSIGNMENT) is before.of_type(CLUSTER_LOAD_ASSIGNMENT)
    assert after.of_type(LISTENER) is before.of_type(LISTENER)


def test_endpoint_change_updates_one_load_assignment_only() -> None:
    gateway = _one_listener_gateway(50)
    translator = XdsTranslator()
    translator.update(gateway)
    moved = ir.hashed(msgspec.structs.replace(gateway.destinations[2], endpoints=(ir.Endpoint(address="10.9.9.9"),)))
    destinations = (*gateway.destinations[:2], moved, *gateway.destinations[3:])
    update = translator.apply(ir.hashed(msgspec.structs.replace(gateway, destinations=destinations)))
    assert set(update.changes) == {CLUSTER_LOAD_ASSIGNMENT}
    assert update.changes[CLUSTER_LOAD_ASSIGNMENT].updated == ("service/default/s2/80",)


def test_removed_pieces_are_reported_and_forgotten() -> None:
    gateway = _one_listener_gateway(20)
    certificate = ir.Certificate(name="default/cert", certificate_chain="C", private_key="K")
    https = ir.hashed(
        msgspec.structs.replace(
            gateway.http[0], name=f"{GATEWAY}/https", port=443, tls=ir.TLSConfig(certificates=(certificate,))
        )
    )
    translator = XdsTranslator()
    full = translator.update(ir.hashed(msgspec.structs.replace(gateway, http=(*gateway.http, https))))
    assert set(full.of_type(SECRET)) == {"default/cert"}
    update = translator.apply(gateway)
    assert update.changes[SECRET].removed == ("default/cert",)
    assert update.changes[ROUTE_CONFIGURATION].removed == (f"{GATEWAY}/https",)
    assert update.changes[LISTENER].removed == (f"{GATEWAY}/tcp/0.0.0.0/443",)
    assert update.resources == build_resource_set(gateway)


def test_grpc_routes_get_an_http2_cluster_beside_the_plain_one() -> None:
    gateway = _one_listener_gateway(10)
    route = msgspec.structs.replace(gateway.http[0].virtual_hosts[0].routes[0], grpc=True)
    resources = build_resource_set(with_route(gateway, 0, 0, 0, ir.hashed(route)))
    clusters = resources.of_type(CLUSTER)
    assert "service/default/s0/80/h2" in clusters
    assert "service/default/s0/80" in clusters
    h2 = decode_resource(CLUSTER, clusters["service/default/s0/80/h2"].body)
    assert h2.eds_cluster_config.service_name == "service/default/s0/80"  # one load assignment for both


def test_fleet_keeps_one_translator_per_gateway_and_removes_everything_on_delete() -> None:
    fleet = XdsFleet()
    gateway = _one_listener_gateway(20)
    other = msgspec.structs.replace(gateway, name="default/other")
    first = fleet.apply(gateway)
    assert fleet.apply(ir.hashed(other)).resources == build_resource_set(ir.hashed(other))
    assert fleet.apply(gateway).changes == {}
    removed = fleet.remove(GATEWAY)
    assert removed.resources == ResourceSet()
    assert {t: set(d.removed) for t, d in removed.changes.items()} == {
        t: set(first.resources.of_type(t)) for t in first.resources.by_type
    }
    assert fleet.resources(GATEWAY) is None
    assert fleet.resources("default/other") is not None


def test_a_removed_gateway_removes_what_delta_clients_were_served_too() -> None:
    fleet = XdsFleet()
    first = fleet.apply(_one_listener_gateway(20))
    removed = fleet.remove(GATEWAY)
    assert removed.delta_changes == diff(first.resources.delta_view(), ResourceSet())
    assert set(removed.delta_changes[VIRTUAL_HOST].removed) == set(first.resources.of_type(VIRTUAL_HOST, delta=True))


def _route(label: str, hostname: str, grpc: bool) -> ir.HTTPRoute:
    return ir.hashed(
        ir.HTTPRoute(
            name=f"httproute/default/{label}/rule/0/match/0",
            hostname=hostname,
            grpc=grpc,
            path=ir.PathMatch(type="PathPrefix", value=f"/{label}"),
            backends=(ir.WeightedBackend(destination=f"service/default/s{len(label) % 10}/80", weight=1),),
        )
    )


def _host(listener: str, hostname: str, routes: tuple[ir.HTTPRoute, ...]) -> ir.VirtualHost:
    return ir.hashed(ir.VirtualHost(name=f"{listener}/{hostname}", hostname=hostname, routes=routes))


Edit = tuple[str, int, int, int, bool]
edits = st.lists(
    st.tuples(
        st.sampled_from(
            ["route", "add-route", "drop-route", "add-host", "drop-host", "rename-host", "hosts", "stats", "listener"]
        ),
        st.integers(0, 1),  # which listener
        st.integers(0, 10_000),  # which virtual host
        st.integers(0, 10_000),  # which route
        st.booleans(),  # gRPC, for a new route
    ),
    min_size=1,
    max_size=6,
)


def _edited(gateway: ir.GatewayIR, edit: Edit, step: int) -> ir.GatewayIR:
    """`gateway` with one edit, every piece it does not change kept as the very same object (as the Gateway API
    translation keeps them), so that the translator's sequence comparisons see what a live change looks like."""
    kind, which, host_at, route_at, grpc = edit
    if kind == "stats":
        metrics = gateway.telemetry.metrics if gateway.telemetry is not None else None
        stats = not (metrics is not None and metrics.virtual_host_stats)
        telemetry = ir.Telemetry(metrics=ir.Metrics(virtual_host_stats=stats))
        return ir.hashed(msgspec.structs.replace(gateway, telemetry=telemetry))
    http = list(gateway.http)
    if kind == "listener":  # a second listener on the same port, sharing the route configuration, or not
        if len(http) == 2:
            del http[1]
        else:
            name = f"{GATEWAY}/foo"
            own = tuple(_host(name, h, (_route(f"foo{step}", h, grpc),)) for h in ("h1.example.com", "x.example"))
            http.append(
                ir.hashed(
                    ir.HTTPListener(name=name, address="0.0.0.0", port=80, hostname="*.example", virtual_hosts=own)
                )
            )
        return ir.hashed(msgspec.structs.replace(gateway, http=tuple(http)))
    listener = http[which % len(http)]
    hosts = list(listener.virtual_hosts)
    if kind == "hosts":  # every few virtual hosts get a route more (as a policy change gives them)
        for at in range(host_at % 5, len(hosts), 1 + route_at % 40):
            extra = _route(f"p{step}", hosts[at].hostname, grpc)
            hosts[at] = ir.hashed(msgspec.structs.replace(hosts[at], routes=(*hosts[at].routes, extra)))
    elif kind == "add-host" or not hosts:
        hostname = f"n{step}.example.com"
        hosts.insert(host_at % (len(hosts) + 1), _host(listener.name, hostname, (_route(f"n{step}", hostname, grpc),)))
        hosts.sort(key=lambda v: v.hostname)
    elif kind == "drop-host":
        del hosts[host_at % len(hosts)]
    elif kind == "rename-host":  # one removed, another added in its place
        at = host_at % len(hosts)
        hostname = f"{hosts[at].hostname}-{step}"
        hosts[at] = _host(listener.name, hostname, tuple(_route(f"m{step}", hostname, grpc) for _ in range(1)))
    else:
        at = host_at % len(hosts)
        host = hosts[at]
        routes = list(host.routes)
        if kind == "drop-route" and routes:
            del routes[route_at % len(routes)]
        elif kind == "route" and routes:
            routes[route_at % len(routes)] = _route(f"c{step}", host.hostname, grpc)
        elif kind == "move-route" and routes:  # to the other end, changed or not (as a new precedence moves it)
            moved = routes.pop(route_at % len(routes))
            moved = _route(f"v{step}", host.hostname, grpc) if grpc else moved
            routes.insert(0 if route_at % 2 else len(routes), moved)
        else:
            routes.insert(route_at % (len(routes) + 1), _route(f"a{step}", host.hostname, grpc))
        hosts[at] = ir.hashed(msgspec.structs.replace(host, routes=tuple(routes)))
    http[which % len(http)] = ir.hashed(msgspec.structs.replace(listener, virtual_hosts=tuple(hosts)))
    return ir.hashed(msgspec.structs.replace(gateway, http=tuple(http)))


def _many_hosts_gateway(hosts: int, routes_per_host: int) -> ir.GatewayIR:
    listener = f"{GATEWAY}/http"
    virtual_hosts = []
    for h in range(hosts):
        hostname = f"h{h:04}.example.com"
        routes = tuple(_route(f"r{h}-{r}", hostname, grpc=(h + r) % 17 == 0) for r in range(routes_per_host))
        virtual_hosts.append(_host(listener, hostname, routes))
    http = ir.hashed(ir.HTTPListener(name=listener, address="0.0.0.0", port=80, virtual_hosts=tuple(virtual_hosts)))
    return ir.hashed(ir.GatewayIR(name=GATEWAY, http=(http,), destinations=_one_listener_gateway(10).destinations))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 200), st.integers(1, 6), edits)
def test_live_edits_equal_builds_from_scratch(hosts: int, routes_per_host: int, changes: list[Edit]) -> None:
    """Edits that keep every unchanged piece as the same object (what the translator's comparisons rely on):
    routes and virtual hosts replaced, added and removed anywhere in long tuples, stats switched, a listener
    sharing the route configuration added and removed; in a fleet whose Gateways share route records."""
    gateway = _many_hosts_gateway(hosts, routes_per_host)
    translator, fleet = XdsTranslator(), XdsFleet()
    previous = translator.update(gateway)
    fleet.apply(gateway)
    fleet.apply(ir.hashed(msgspec.structs.replace(gateway, name="default/other")))
    for step, change in enumerate(changes):
        gateway = _edited(gateway, change, step)
        update = translator.apply(gateway)
        scratch = build_resource_set(gateway)
        assert update.resources == scratch
        assert update.changes == diff(previous, scratch)
        assert update.delta_changes == diff(previous.delta_view(), scratch.delta_view())
        assert fleet.apply(gateway).resources == scratch
        other = ir.hashed(msgspec.structs.replace(gateway, name="default/other"))
        assert fleet.apply(other).resources == build_resource_set(other)
        previous = scratch


def test_a_route_moved_across_its_virtual_host_keeps_the_records_in_between() -> None:
    """A changed route whose precedence moves it to either end of its virtual host, changed or not."""
    gateway = _many_hosts_gateway(3, 40)
    for edit in [("move-route", 0, 1, 1, False), ("move-route", 0, 1, 2, True), ("move-route", 0, 2, 7, True)]:
        translator = XdsTranslator()
        translator.update(gateway)
        moved = _edited(gateway, edit, 1)
        assert translator.apply(moved).resources == build_resource_set(moved)


def test_a_udp_route_reweighted_or_split_anew_updates_its_own_cluster_and_endpoints() -> None:
    """A UDPRoute over several backends has a split cluster (Envoy's UDP proxy takes one): a new weight, or a
    second backend already used elsewhere, changes no destination, yet must reach the split's endpoints."""
    documents = list(yaml.safe_load_all((TESTDATA / "udproute-weighted-backends.in.yaml").read_text()))

    def gateway_with(backend_refs: list[dict[str, object]]) -> ir.GatewayIR:
        route = next(d for d in documents if d["kind"] == "UDPRoute")
        route["spec"]["rules"][0]["backendRefs"] = backend_refs
        resources = resources_from_documents([(d, f"document {i}") for i, d in enumerate(documents)])
        return translate(resources).gateways["envoy-gateway/gateway-1"]

    one = {"name": "dns", "port": 53}
    two = {"name": "dns-2", "port": 53}
    steps = [[one], [{**one, "weight": 3}, {**two, "weight": 1}], [{**one, "weight": 1}, {**two, "weight": 1}]]
    translator = XdsTranslator()
    for step in steps:
        gateway = gateway_with(step)
        translator.apply(gateway)
        assert translator.resources == build_resource_set(gateway)
    assert "udproute/default/udproute-weighted" in translator.resources.of_type(CLUSTER_LOAD_ASSIGNMENT)


def test_a_udp_split_cluster_tracks_the_stats_route_clusters_do() -> None:
    """An EnvoyProxy's per-endpoint and request/response-size stats apply to a UDP route's split cluster as to the
    clusters it replaces."""
    backends = ((ir.Destination(name="service/default/a/53", protocol="UDP"), 1),)
    metrics = ir.Metrics(per_endpoint_stats=True, request_response_sizes_stats=True)
    cluster = build_split_cluster("udproute/default/r", backends, metrics)
    assert cluster.track_cluster_stats.per_endpoint_stats and cluster.track_cluster_stats.request_response_sizes
    assert not build_split_cluster("udproute/default/r", backends).HasField("track_cluster_stats")
