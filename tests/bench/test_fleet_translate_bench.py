"""Routes shared by a fleet of Gateways, measured in process (CPU time, so that other work on a shared machine
counts less): 10 Gateways with one HTTP listener each and 1,000 HTTPRoutes attached to all of them (the
layout of `test_xds_envoy_bench`'s fleet). Measured: one route changed (a new path, which moves it among the
others) or added, and a burst of 2,000 new routes translated in batches of 1,000 (as the follower drains
them), for 1 and 10 Gateways: Gateway API -> IR, then IR -> xDS of every Gateway whose IR changed. The cyclic
collector is tuned as `egd serve` tunes it.

Run: python3 -m pytest tests/bench/test_fleet_translate_bench.py -o addopts="" -s
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from egd.daemon import GC_THRESHOLDS
from projections.gatewayapi.inputs import Resource
from projections.gatewayapi.translator import Deleted, Translator
from projections.xds.translate.fleet import XdsFleet
from tests.bench.test_translate_bench import _resource, slice_document

GW = "gateway.networking.k8s.io/v1"
ROUTES = 1_000


@pytest.fixture(autouse=True)
def daemon_gc() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    yield
    gc.set_threshold(*previous)


def _route(name: str, path: str, gateways: int) -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": f"gw-{g}"} for g in range(gateways)],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                    "backendRefs": [{"name": "svc-0", "port": 80}],
                }
            ],
        },
    }


def _fleet(gateways: int) -> tuple[Translator, XdsFleet]:
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": GW,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc-0", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
        slice_document(0),
    ]
    documents.extend(
        {
            "apiVersion": GW,
            "kind": "Gateway",
            "metadata": {"name": f"gw-{g}", "namespace": "default"},
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 10_000 + g}]},
        }
        for g in range(gateways)
    )
    documents.extend(_route(f"route-{i}", f"/route-{i}", gateways) for i in range(ROUTES))
    translator = Translator()
    translator.apply([_resource(d) for d in documents])
    fleet = XdsFleet()
    for gateway in translator.gateways.values():
        fleet.apply(gateway)
    return translator, fleet


def _timed(translator: Translator, fleet: XdsFleet, changes: list[Resource]) -> tuple[float, float]:
    """CPU seconds to translate `changes`, then to build the xDS of every Gateway they changed."""
    start = time.process_time()
    changed = translator.apply(changes)
    middle = time.process_time()
    for name in changed.gateways:
        fleet.apply(translator.gateways[name])
    return middle - start, time.process_time() - middle


def _report(label: str, translate: list[float], build: list[float]) -> None:
    print(
        f"\n{label} (CPU time, medians of {len(translate)}): translate {statistics.median(translate) * 1000:.3f} ms, "
        f"xDS build {statistics.median(build) * 1000:.3f} ms, "
        f"together {statistics.median(t + b for t, b in zip(translate, build, strict=True)) * 1000:.3f} ms"
    )


@pytest.mark.parametrize("kind", ["changed", "added"])
def test_one_route_shared_by_10_gateways(kind: str) -> None:
    translator, fleet = _fleet(10)
    translate, build = [], []
    for n in range(200):
        if kind == "changed":  # a longer path: the route moves among the others of its virtual host
            i = (n * 7919) % ROUTES
            change = _resource(_route(f"route-{i}", f"/route-{i}/v{n}", 10))
        else:
            change = _resource(_route(f"new-{n}", f"/new-{n}", 10))
        spent = _timed(translator, fleet, [change])
        translate.append(spent[0])
        build.append(spent[1])
    _report(f"one route {kind}, attached to 10 Gateways of {ROUTES:,} shared routes", translate, build)


@pytest.mark.parametrize("gateways", [1, 10])
def test_burst_of_2000_new_routes(gateways: int) -> None:
    translator, fleet = _fleet(gateways)
    translate, build = [], []
    for burst in range(5):
        routes = [_resource(_route(f"burst-{burst}-{i}", f"/burst-{burst}-{i}", gateways)) for i in range(2_000)]
        spent = [_timed(translator, fleet, batch) for batch in (routes[:1_000], routes[1_000:])]
        translate.append(sum(s[0] for s in spent))
        build.append(sum(s[1] for s in spent))
        _timed(translator, fleet, [Deleted(key=r.key) for r in routes])  # back to the 1,000 routes
    _report(f"burst of 2,000 new routes in batches of 1,000, {gateways} Gateway(s)", translate, build)
