"""Policies at scale: 10,000 HTTPRoutes over 100 Gateways, each Gateway with a BackendTrafficPolicy and a
ClientTrafficPolicy, one route in ten with a SecurityPolicy of its own. Measured: full translation (IR and
xDS), and what one policy change costs (translation, xDS build and diff) and sends (bytes of the updated
resources, which is what every Envoy of the Gateway receives). The cyclic collector is tuned as `egd serve`
tunes it.

Run: python3 -m pytest tests/bench/test_policy_bench.py -o addopts="" -s
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest

from egd.daemon import GC_THRESHOLDS
from projections.gatewayapi.inputs import Resource
from projections.gatewayapi.translator import Translator
from projections.xds.translate.fleet import XdsFleet
from projections.xds.translate.translator import XdsUpdate
from tests.bench.conftest import report
from tests.bench.test_translate_bench import GATEWAYS, _resource, universe

ROUTES = 10_000
EG = "gateway.envoyproxy.io/v1alpha1"


@pytest.fixture(autouse=True)
def daemon_gc() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    yield
    gc.set_threshold(*previous)


def traffic_policy(g: int, retries: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": f"traffic-{g}", "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": f"gw-{g}"}],
            "retry": {"numRetries": retries, "retryOn": {"triggers": ["connect-failure", "retriable-status-codes"]}},
            "timeout": {"http": {"requestTimeout": "10s"}},
            "loadBalancer": {"type": "LeastRequest"},
        },
    }


def client_policy(g: int, idle: str = "60s") -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "ClientTrafficPolicy",
        "metadata": {"name": f"client-{g}", "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": f"gw-{g}"}],
            "timeout": {"http": {"idleTimeout": idle}},
            "headers": {"preserveXRequestID": True},
        },
    }


def security_policy(i: int, origin: str = "https://a.example.com") -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "SecurityPolicy",
        "metadata": {"name": f"cors-{i}", "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": f"route-{i}"}],
            "cors": {"allowOrigins": [origin], "allowMethods": ["GET", "POST"]},
        },
    }


def policy_universe() -> list[Resource]:
    policies = [traffic_policy(g) for g in range(GATEWAYS)] + [client_policy(g) for g in range(GATEWAYS)]
    policies += [security_policy(i) for i in range(0, ROUTES, 10)]
    return universe(ROUTES) + [_resource(p) for p in policies]


def built() -> tuple[Translator, XdsFleet]:
    translator = Translator()
    translator.apply(policy_universe())
    fleet = XdsFleet()
    for gateway in translator.gateways.values():
        fleet.apply(gateway)
    return translator, fleet


def sent_bytes(update: XdsUpdate) -> int:
    return sum(
        len(update.resources.of_type(type_url)[name].body)
        for type_url, changes in update.changes.items()
        for name in changes.updated
    )


def test_full_translation_with_policies() -> None:
    resources = policy_universe()
    translations: list[float] = []
    builds: list[float] = []
    for _ in range(3):
        gc.collect()
        started = time.perf_counter()
        translator = Translator()
        translator.apply(resources)
        translated = time.perf_counter()
        fleet = XdsFleet()
        for gateway in translator.gateways.values():
            fleet.apply(gateway)
        translations.append((translated - started) * 1000)
        builds.append((time.perf_counter() - translated) * 1000)
    report(f"full translation, {ROUTES:,} routes with policies, {GATEWAYS} Gateways", translations, "ms", "lower")
    report("full xDS build of those Gateways", builds, "ms", "lower")


@pytest.mark.parametrize("kind", ["BackendTrafficPolicy", "ClientTrafficPolicy", "SecurityPolicy"])
def test_one_policy_changed(kind: str) -> None:
    translator, fleet = built()
    times: list[float] = []
    sizes: list[float] = []
    for n in range(50):
        if kind == "BackendTrafficPolicy":
            change = traffic_policy(n % GATEWAYS, retries=3 + n)
        elif kind == "ClientTrafficPolicy":
            change = client_policy(n % GATEWAYS, idle=f"{61 + n}s")
        else:
            change = security_policy((n * 10) % ROUTES, origin=f"https://o{n}.example.com")
        started = time.perf_counter()
        changes = translator.apply([_resource(change)])
        updates = [fleet.apply(translator.gateways[name]) for name in changes.gateways]
        times.append((time.perf_counter() - started) * 1000)
        assert len(updates) == 1, changes.gateways  # one Gateway's xDS changes, never the fleet's
        sizes.append(sent_bytes(updates[0]) / 1024)
        what = {t.rsplit(".", 1)[-1]: len(c.updated) for t, c in updates[0].changes.items() if c.updated}
    report(f"one {kind} changed: translate + xDS build and diff", times, "ms", "lower")
    report(f"one {kind} changed: bytes of the updated resources", sizes, "KiB", "lower")
    print(f"  resources updated (last change): {what}")
