"""End to end with a real Envoy: a BackendTrafficPolicy's `loadBalancer` changes which endpoint serves.

BackendUtilization: two backends report their load (ORCA, in the `endpoint-load-metrics` response header, TEXT
format); the idle one gets most of the traffic once the reports count, and clients never see the reports.
weightedZones: the endpoints of two zones share the traffic by the zones' weights. endpointOverride: a request
header names the endpoint that serves it; without it, the load balancer picks."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from projections.xds.translate import XdsTranslator
from tests.egd.serving import started
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    backend_route,
    backend_traffic_policy,
    eg_backend,
    gateway,
    gateway_ir,
    http_listener,
)
from tests.egd.xds.test_envoy_delta import eventually

pytestmark = pytest.mark.slow
OVERRIDE_HEADER = "x-gateway-destination-endpoint"


class Backend:
    """An aiohttp backend that answers with its name and reports `utilization` as its ORCA load."""

    def __init__(self, name: str, utilization: float) -> None:
        self.name = name
        self.utilization = utilization
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        report = f"TEXT application_utilization={self.utilization},rps_fractional=100"
        return web.json_response({"backend": self.name}, headers={"endpoint-load-metrics": report})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = pick_free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, Backend]]:
    async with started({"idle": Backend("idle", 0.1), "busy": Backend("busy", 0.9)}) as found:
        yield found


def documents(port: int, idle: Backend, busy: Backend) -> list[dict[str, Any]]:
    pair = eg_backend("pair")
    pair["spec"]["endpoints"] = [
        {"ip": {"address": "127.0.0.1", "port": idle.port}, "zone": "zone-a"},
        {"ip": {"address": "127.0.0.1", "port": busy.port}, "zone": "zone-b"},
    ]
    balancers = {
        "utilization": {
            "type": "BackendUtilization",
            "backendUtilization": {"blackoutPeriod": "1s", "weightUpdatePeriod": "100ms"},
        },
        "zones": {
            "type": "RoundRobin",
            "zoneAware": {"weightedZones": [{"zone": "zone-a", "weight": 1}, {"zone": "zone-b", "weight": 9}]},
        },
        "override": {"type": "RoundRobin", "endpointOverride": {"extractFrom": [{"header": OVERRIDE_HEADER}]}},
    }
    return [
        *gateway([http_listener(port)]),
        pair,
        *(backend_route(name, f"/{name}", to="pair") for name in balancers),
        *(backend_traffic_policy(name, name, loadBalancer=balancer) for name, balancer in balancers.items()),
    ]


async def served_by(session: aiohttp.ClientSession, url: str, count: int, **options: Any) -> Counter[str]:
    """Which backend answered each of `count` requests. Routes that balance by BackendUtilization keep the load
    reports from the client; the others pass them on, as Envoy Gateway does."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5), **options) as response:
            assert response.status == 200
            reported = "endpoint-load-metrics" in response.headers
            assert reported == ("/utilization" not in url), response.headers
            seen[(await response.json())["backend"]] += 1
    return seen


async def test_load_balancer_policies_through_real_envoy(
    server: Server, recorded: Recorded, backends: dict[str, Backend], tmp_path: Path
) -> None:
    idle, busy = backends["idle"], backends["busy"]
    port = pick_free_port()
    server.bus.publish(GROUP, XdsTranslator().update(gateway_ir(documents(port, idle, busy))))
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="balancing"),
        aiohttp.ClientSession() as session,
    ):

        async def serving() -> bool:
            try:
                return sum((await served_by(session, f"{base}/override", 1)).values()) == 1
            except (aiohttp.ClientError, AssertionError):
                return False

        await eventually(serving, what="traffic through Envoy")
        assert recorded.nacks == []

        # endpointOverride: the header names the endpoint; without it, round robin over both
        busy_endpoint = {OVERRIDE_HEADER: f"127.0.0.1:{busy.port}"}
        assert await served_by(session, f"{base}/override", 10, headers=busy_endpoint) == {"busy": 10}
        assert set(await served_by(session, f"{base}/override", 10)) == {"idle", "busy"}

        # weightedZones: zone-b (busy) weighs 9, zone-a (idle) 1
        zones = await served_by(session, f"{base}/zones", 100)
        assert zones["busy"] >= 80, zones

        # BackendUtilization: once the reports count (1 s blackout), the idle backend (0.1) gets most traffic
        async def weighted() -> bool:
            seen = await served_by(session, f"{base}/utilization", 50)
            return seen["idle"] >= 4 * seen["busy"]

        await eventually(weighted, within=15, what="weights from the ORCA reports")
        assert recorded.nacks == []
