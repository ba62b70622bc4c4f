"""Translation benchmarks: full translation at 1,000 and 10,000 HTTPRoutes over 100 Gateways, and the cost
of one changed HTTPRoute or EndpointSlice in a large configuration.

Run: python3 -m pytest tests/bench/test_translate_bench.py -o addopts="" -s
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Any

import msgspec
import pytest

from projections.gatewayapi.inputs import Resource
from projections.gatewayapi.translator import Translator
from projections.resources.decode import decode_resource

GATEWAYS = 100
SERVICES = 1000
GW = "gateway.networking.k8s.io/v1"


def _resource(document: dict[str, Any]) -> Resource:
    decoded = decode_resource(document, "bench")
    return Resource(key=decoded.key, model=decoded.model, generation=document["metadata"].get("generation", 1))


def route_document(i: int, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": f"route-{i}", "namespace": "default", "generation": generation},
        "spec": {
            "parentRefs": [{"name": f"gw-{i % GATEWAYS}"}],
            "hostnames": [f"host-{i}.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/v{generation}/{i}"}}],
                    "backendRefs": [{"name": f"svc-{i % SERVICES}", "port": 80}],
                }
            ],
        },
    }


def slice_document(i: int, variant: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{i}-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": [f"10.{i // 250}.{i % 250}.{n + variant}"]} for n in range(3)],
    }


def universe(routes: int) -> list[Resource]:
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": GW,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        }
    ]
    for g in range(GATEWAYS):
        documents.append(
            {
                "apiVersion": GW,
                "kind": "Gateway",
                "metadata": {"name": f"gw-{g}", "namespace": "default"},
                "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
            }
        )
    for s in range(SERVICES):
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{s}", "namespace": "default"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }
        )
        documents.append(slice_document(s))
    documents.extend(route_document(i) for i in range(routes))
    return [_resource(d) for d in documents]


def report(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[int(len(ms) * 0.9) - 1]
    print(
        f"\n{label}: median {statistics.median(ms):.3f} ms, p90 {p90:.3f} ms, "
        f"min {ms[0]:.3f} ms, max {ms[-1]:.3f} ms (n={len(ms)})"
    )


@pytest.mark.parametrize("routes", [1_000, 10_000])
def test_full_translation(routes: int) -> None:
    resources = universe(routes)
    times = []
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        translator = Translator()
        translator.apply(resources)
        times.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    translator = Translator()
    translator.apply(resources)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(translator.gateways) == GATEWAYS
    report(f"full translation, {routes} HTTPRoutes / {GATEWAYS} Gateways / {SERVICES} Services", times)
    print(f"  peak traced memory during translation: {peak / 2**20:.1f} MiB")


@pytest.mark.parametrize("routes", [100, 10_000])
def test_one_route_changed(routes: int) -> None:
    translator = Translator()
    translator.apply(universe(routes))
    samples = []
    for n in range(200):
        i = (n * 7919) % routes
        change = _resource(route_document(i, generation=2 + n))
        start = time.perf_counter()
        changes = translator.apply([change])
        samples.append(time.perf_counter() - start)
        assert changes.gateways == (f"default/gw-{i % GATEWAYS}",)
    report(f"one HTTPRoute changed among {routes}: IR + status update", samples)


def test_one_endpointslice_changed() -> None:
    translator = Translator()
    translator.apply(universe(10_000))
    samples = []
    for n in range(200):
        i = (n * 7919) % SERVICES
        change = _resource(slice_document(i, variant=1 + n % 50))
        start = time.perf_counter()
        changes = translator.apply([change])
        samples.append(time.perf_counter() - start)
        assert changes.gateways  # the routes of that Service see new endpoints
    report(f"one EndpointSlice changed among {SERVICES} Services (10,000 routes)", samples)


def test_ir_bytes_are_deterministic() -> None:
    first, second = Translator(), Translator()
    resources = universe(1_000)
    first.apply(resources)
    second.apply(list(reversed(resources)))
    encode = msgspec.json.Encoder(order="sorted").encode
    assert encode(list(first.gateways.values())) == encode(list(second.gateways.values()))
