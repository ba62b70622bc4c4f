"""xDS translation benchmarks: full build at 1,000 and 10,000 routes, one route changed among 10,000
(IR -> xDS update + diff, and Gateway API event -> IR -> xDS), bytes for a one-route change vs the total.

Run: python3 -m pytest tests/bench/test_xds_translate_bench.py -o addopts="" -s
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import msgspec
import pytest

from projections import ir
from projections.gatewayapi.inputs import Resource
from projections.gatewayapi.translator import Translator
from projections.resources.decode import decode_resource
from projections.xds.resources import ResourceSet, TypeDiff
from projections.xds.translate import XdsTranslator, build_resource_set

GATEWAY = "default/gw"
SERVICES = 1000


def report(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[int(len(ms) * 0.9) - 1]
    print(
        f"\n{label}: median {statistics.median(ms):.3f} ms, p90 {p90:.3f} ms, "
        f"min {ms[0]:.3f} ms, max {ms[-1]:.3f} ms (n={len(ms)})"
    )


def _route(i: int, hostname: str, generation: int = 0) -> ir.HTTPRoute:
    return ir.hashed(
        ir.HTTPRoute(
            name=f"httproute/default/route-{i}/rule/0/match/0",
            hostname=hostname,
            path=ir.PathMatch(type="PathPrefix", value=f"/v{generation}/{i}"),
            backends=(ir.WeightedBackend(destination=f"service/default/svc-{i % SERVICES}/80", weight=1),),
        )
    )


def gateway_ir(routes: int, per_host: int) -> ir.GatewayIR:
    """`routes` HTTPRoutes on one HTTP listener, `per_host` per hostname (so routes/per_host virtual hosts)."""
    hosts = []
    for h in range(max(routes // per_host, 1)):
        hostname = f"host-{h}.example.com"
        rs = tuple(_route(h * per_host + r, hostname) for r in range(min(per_host, routes)))
        hosts.append(ir.hashed(ir.VirtualHost(name=f"{GATEWAY}/http/{hostname}", hostname=hostname, routes=rs)))
    listener = ir.hashed(
        ir.HTTPListener(name=f"{GATEWAY}/http", address="0.0.0.0", port=80, virtual_hosts=tuple(hosts))
    )
    destinations = tuple(
        ir.hashed(
            ir.Destination(
                name=f"service/default/svc-{s}/80",
                endpoints=tuple(ir.Endpoint(address=f"10.{s // 250}.{s % 250}.{n}", port=8080) for n in range(3)),
            )
        )
        for s in range(SERVICES)
    )
    return ir.hashed(ir.GatewayIR(name=GATEWAY, addresses=("0.0.0.0",), http=(listener,), destinations=destinations))


def one_route_changed(gateway: ir.GatewayIR, n: int, per_host: int) -> ir.GatewayIR:
    listener = gateway.http[0]
    h = (n * 7919) % len(listener.virtual_hosts)
    host = listener.virtual_hosts[h]
    r = n % len(host.routes)
    routes = list(host.routes)
    routes[r] = _route(h * per_host + r, host.hostname, generation=n + 1)
    hosts = list(listener.virtual_hosts)
    hosts[h] = ir.hashed(msgspec.structs.replace(host, routes=tuple(routes)))
    listener = ir.hashed(msgspec.structs.replace(listener, virtual_hosts=tuple(hosts)))
    return ir.hashed(msgspec.structs.replace(gateway, http=(listener,)))


def total_bytes(resources: ResourceSet) -> int:
    return sum(len(r.body) for named in resources.by_type.values() for r in named.values())


@pytest.mark.parametrize("routes", [1_000, 10_000])
def test_full_build(routes: int) -> None:
    gateway = gateway_ir(routes, per_host=10)
    samples = []
    for _ in range(5):
        gc.collect()
        start = time.perf_counter()
        resources = build_resource_set(gateway)
        samples.append(time.perf_counter() - start)
    report(f"full xDS build, {routes} routes / {routes // 10} virtual hosts / {SERVICES} clusters", samples)
    print(f"  total serialised bytes: {total_bytes(resources):,}")


@pytest.mark.parametrize(("routes", "per_host"), [(10_000, 1), (10_000, 10), (10_000, 10_000), (100, 10), (100, 100)])
def test_one_route_changed(routes: int, per_host: int) -> None:
    """Time of one route change (xDS update + diff), and the bytes of the resources it updates: for
    state-of-the-world clients (the whole RouteConfiguration) and for delta clients (its VirtualHost, VHDS)."""
    gateway = gateway_ir(routes, per_host=per_host)
    translator = XdsTranslator()
    translator.update(gateway)
    changed = [one_route_changed(gateway, n, per_host) for n in range(200)]
    samples, cpu_samples, sotw_bytes, delta_bytes = [], [], [], []
    for new in changed:
        translator.update(gateway)  # each change is measured against the configuration just before it
        start, cpu = time.perf_counter(), time.process_time()
        update = translator.apply(new)
        samples.append(time.perf_counter() - start)
        cpu_samples.append(time.process_time() - cpu)
        sotw_bytes.append(updated_bytes(update.resources, update.changes))
        delta_bytes.append(updated_bytes(update.resources.delta_view(), update.delta_changes))
        assert [len(d.updated) for d in update.changes.values()] == [1]
        assert [len(d.updated) for d in update.delta_changes.values()] == [1]
    label = f"{routes // per_host} virtual hosts x {per_host} routes"
    report(f"one route changed among {routes:,} ({label}): xDS update + diff", samples)
    report(f"one route changed among {routes:,} ({label}): xDS update + diff, CPU time", cpu_samples)
    total = total_bytes(translator.resources)
    for form, sizes in (("state of the world", sotw_bytes), ("delta (VHDS)", delta_bytes)):
        print(
            f"  bytes of the updated resources, {form}: median {statistics.median(sizes):,.0f} "
            f"of {total:,} in all ({statistics.median(sizes) / total:.1%})"
        )


def updated_bytes(resources: ResourceSet, changes: dict[str, TypeDiff]) -> int:
    return sum(len(resources.of_type(t)[name].body) for t, d in changes.items() for name in d.updated)


def _resource(document: dict[str, Any]) -> Resource:
    decoded = decode_resource(document, "bench")
    return Resource(key=decoded.key, model=decoded.model, generation=document["metadata"].get("generation", 1))


def _route_document(i: int, generation: int = 1, per_host: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"route-{i}", "namespace": "default", "generation": generation},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": [f"host-{i // per_host}.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/v{generation}/{i}"}}],
                    "backendRefs": [{"name": f"svc-{i % SERVICES}", "port": 80}],
                }
            ],
        },
    }


def _universe(routes: int, per_host: int = 10) -> list[Resource]:
    gw = "gateway.networking.k8s.io/v1"
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": gw,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": gw,
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
        },
    ]
    for s in range(SERVICES):
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{s}", "namespace": "default"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }
        )
        documents.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"svc-{s}-1",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": f"svc-{s}"},
                },
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": [f"10.{s // 250}.{s % 250}.{n}"]} for n in range(3)],
            }
        )
    documents.extend(_route_document(i, per_host=per_host) for i in range(routes))
    return [_resource(d) for d in documents]


@pytest.mark.parametrize("per_host", [10, 1])
def test_one_httproute_event_to_xds_among_10000(per_host: int) -> None:
    """The whole path for one changed HTTPRoute in a Gateway of 10,000: Gateway API -> IR -> xDS + diff, with
    10 routes per hostname (1,000 virtual hosts) or one (10,000); wall clock and CPU time."""
    translator = Translator()
    translator.apply(_universe(10_000, per_host))
    xds = XdsTranslator()
    xds.update(translator.gateways[GATEWAY])
    ir_samples, xds_samples, cpu_samples = [], [], []
    for n in range(200):
        change = _resource(_route_document((n * 7919) % 10_000, generation=2 + n, per_host=per_host))
        start, cpu = time.perf_counter(), time.process_time()
        translator.apply([change])
        gateway = translator.gateways[GATEWAY]
        middle = time.perf_counter()
        update = xds.apply(gateway)
        end = time.perf_counter()
        cpu_samples.append(time.process_time() - cpu)
        ir_samples.append(middle - start)
        xds_samples.append(end - start)
        assert [len(d.updated) for d in update.changes.values()] == [1]
    label = f"one HTTPRoute event among 10,000 in one Gateway ({10_000 // per_host:,} virtual hosts)"
    report(f"{label}: Gateway API -> IR", ir_samples)
    report(f"{label}: Gateway API -> IR -> xDS + diff", xds_samples)
    report(f"{label}: Gateway API -> IR -> xDS + diff, CPU time", cpu_samples)
