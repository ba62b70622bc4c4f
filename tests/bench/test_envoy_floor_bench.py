"""The floor under test_xds_envoy_bench's targets on this machine: the same 10 real Envoys, the same route
configuration, and no control plane at all.

Each Envoy reads its route configuration from one shared file (RDS from a `path_config_source`: Envoy watches
the file and reloads it when the file is replaced), holding exactly the RouteConfiguration egd builds for the
fleet's Gateway, in its inline form (egd's delta clients get it over VHDS, which costs Envoy more). Replacing
the file stands for `egd apply` returning with a control plane that takes no time at all to translate, build
and send, so what is measured is what the Envoys need on this machine's cores to apply a change and serve it:
- route propagation: the file gains one route → first 200 for it through each Envoy (1,000 routes);
- the burst: the file gains 2,000 routes at once → every Envoy serves them (and loses them → none does);
- the Envoys' CPU time per change, all of them together.
Run: python3 -m pytest tests/bench/test_envoy_floor_bench.py -o addopts="" -s
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from egd.natsserver import pick_free_port
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.xds.resources import ROUTE_CONFIGURATION
from projections.xds.translate import build_resource_set
from tests.bench.conftest import report
from tests.bench.envoy_fleet import (
    BACKENDS,
    cpu_seconds,
    first_answers,
    gateway,
    gateway_class,
    route,
    rule,
    service,
)
from tests.bench.test_xds_envoy_bench import summary
from tests.egd.serving import backends
from tests.egd.xds.envoy_process import Envoy, run_envoy

pytestmark = pytest.mark.timeout(1800)
ENVOYS = int(os.environ.get("EGD_BENCH_ENVOYS", "10"))
ROUTES = int(os.environ.get("EGD_BENCH_ROUTES", "1000"))
SAMPLES = int(os.environ.get("EGD_BENCH_SAMPLES", "30"))
BURST = 2_000
GATEWAY = "gw-0"
LISTENER_PORT = 10_080  # the Gateway's port as the route configuration's name shows it; the Envoys listen apart


def route_configuration(backend_ports: dict[str, int], extra: Sequence[str]) -> Any:
    """The RouteConfiguration egd builds for the fleet's Gateway with its ROUTES routes `bg-<i>` and `extra`
    routes (each `/<name>` to alpha), translated as `egd translate` does."""
    documents = [gateway_class(), gateway(GATEWAY, LISTENER_PORT)]
    documents += [d for name in BACKENDS for d in service(name, backend_ports[name])]
    documents += [route(f"bg-{i}", [GATEWAY], [rule(f"/bg-{i}", {"alpha": 1})]) for i in range(ROUTES)]
    documents += [route(name, [GATEWAY], [rule(f"/{name}", {"alpha": 1})]) for name in extra]
    gateways = translate(resources_from_documents([(d, f"document {i}") for i, d in enumerate(documents)])).gateways
    served = build_resource_set(gateways[f"default/{GATEWAY}"]).of_type(ROUTE_CONFIGURATION)
    (only,) = served.values()
    packed = any_pb2.Any.FromString(only.body)
    unpacked = route_pb2.RouteConfiguration()
    assert packed.Unpack(unpacked)
    return unpacked


HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _loopback(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def bootstrap(route_file: Path, route_name: str, port: int, admin_port: int, backend_ports: dict[str, int]) -> Any:
    """A static listener on `port` whose HTTP connection manager reads `route_name` from `route_file`, and a
    static cluster for each backend under the name egd gives its Service's cluster."""
    clusters = [
        {
            "name": f"service/default/{name}/80",
            "connect_timeout": "10s",
            "load_assignment": {
                "cluster_name": f"service/default/{name}/80",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _loopback(p)}}]}],
            },
        }
        for name, p in backend_ports.items()
    ]
    manager = {
        "@type": HCM,
        "stat_prefix": "floor",
        "rds": {
            "route_config_name": route_name,
            "config_source": {"path_config_source": {"path": str(route_file)}, "resource_api_version": "V3"},
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    listener = {
        "name": "floor",
        "address": _loopback(port),
        "filter_chains": [{"filters": [{"name": "http_connection_manager", "typed_config": manager}]}],
    }
    return {
        "node": {"id": f"floor-{port}", "cluster": "floor"},
        "admin": {"address": _loopback(admin_port)},
        "static_resources": {"clusters": clusters, "listeners": [listener]},
    }


@dataclass
class FloorFleet:
    route_file: Path
    ports: list[int]
    envoys: list[Envoy]
    session: aiohttp.ClientSession
    versions: int = 0

    def publish(self, configuration: Any) -> None:
        """Replace the route file (a rename, which each Envoy's watch sees as one change)."""
        self.versions += 1
        packed = any_pb2.Any()
        packed.Pack(configuration)
        response = discovery_pb2.DiscoveryResponse(version_info=str(self.versions), resources=[packed])
        staging = self.route_file.with_suffix(".staging")
        staging.write_bytes(response.SerializeToString())
        staging.rename(self.route_file)

    async def everywhere(self, path: str, status: int = 200) -> list[float]:
        return await first_answers(self.session, [f"http://127.0.0.1:{p}{path}" for p in self.ports], status)

    def envoy_cpu(self) -> float:
        return sum(cpu_seconds(envoy.pid) for envoy in self.envoys)


@pytest.fixture(scope="module")
async def floor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[FloorFleet, dict[str, int]]]:
    tmp_path = tmp_path_factory.mktemp("floor")
    async with AsyncExitStack() as stack:
        backend_ports = await stack.enter_async_context(backends(*BACKENDS))
        configuration = route_configuration(backend_ports, [])
        route_file = tmp_path / "routes.pb"
        fleet = FloorFleet(route_file, [pick_free_port() for _ in range(ENVOYS)], [], aiohttp.ClientSession())
        stack.push_async_callback(fleet.session.close)
        fleet.publish(configuration)
        for i, port in enumerate(fleet.ports):
            config = bootstrap(route_file, configuration.name, port, pick_free_port(), backend_ports)
            envoy = run_envoy(tmp_path, gateway="", xds_port=0, node_id=f"floor-{i}", bootstrap=config)
            fleet.envoys.append(await stack.enter_async_context(envoy))
        await fleet.everywhere(f"/bg-{ROUTES - 1}")
        yield fleet, backend_ports


async def test_route_propagation_floor(floor: tuple[FloorFleet, dict[str, int]]) -> None:
    """The file gains one new route → first 200 for it through each Envoy."""
    fleet, backend_ports = floor
    configurations = [route_configuration(backend_ports, [f"new-{j}" for j in range(i + 1)]) for i in range(SAMPLES)]
    per_envoy: list[float] = []
    slowest: list[float] = []
    cpu_ms: list[float] = []
    for i, configuration in enumerate(configurations):
        cpu_before = fleet.envoy_cpu()
        published = time.perf_counter()
        fleet.publish(configuration)
        firsts = await fleet.everywhere(f"/new-{i}")
        latencies = [(first - published) * 1000 for first in firsts]
        per_envoy += latencies
        slowest.append(max(latencies))
        await asyncio.sleep(0.2)  # the Envoys settle (and free the old configuration) before CPU is read
        cpu_ms.append((fleet.envoy_cpu() - cpu_before) * 1000)
    summary(f"floor: route propagation with no control plane, {ROUTES} routes, per Envoy ({ENVOYS} Envoys)", per_envoy)
    summary("floor: route propagation with no control plane, until the last of the Envoys", slowest)
    report(f"floor: CPU of all {ENVOYS} Envoys per one-route change", cpu_ms, "ms", "lower")


async def test_burst_floor(floor: tuple[FloorFleet, dict[str, int]]) -> None:
    """The file gains 2,000 routes at once → every Envoy serves the last of them; loses them → none does."""
    fleet, backend_ports = floor
    names = [f"burst-{i}" for i in range(BURST)]
    grown = route_configuration(backend_ports, names)
    base = route_configuration(backend_ports, [])
    adds: list[float] = []
    removes: list[float] = []
    for _ in range(3):
        for configuration, status, samples in ((grown, 200, adds), (base, 404, removes)):
            published = time.perf_counter()
            fleet.publish(configuration)
            arrivals = await asyncio.gather(*(fleet.everywhere(f"/{n}", status) for n in (names[0], names[-1])))
            samples.append((max(max(a) for a in arrivals) - published) * 1000)
            await asyncio.sleep(0.5)
    burst = "floor: burst with no control plane, 2,000 routes"
    report(f"{burst} added → all {ENVOYS} Envoys serve them", adds, "ms", "lower")
    report(f"{burst} removed → all {ENVOYS} Envoys converged", removes, "ms", "lower")
