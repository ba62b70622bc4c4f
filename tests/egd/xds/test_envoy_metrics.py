"""End to end with a real Envoy: the EnvoyProxy's stats switches are pushed live. Turning on per-endpoint and
request/response size stats resends the route clusters alone, virtual host stats the route configuration
alone, and Envoy's admin `/stats` shows the new stats without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from egd.natsserver import pick_free_port
from projections.xds.resources import CLUSTER, ROUTE_CONFIGURATION
from tests.egd.serving import PolicyBackend, eventually, fetch_json, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import Envoy, run_envoy
from tests.egd.xds.gateway_documents import GatewayFeed, backend_route, eg_backend, gateway_with_proxy

pytestmark = pytest.mark.slow


def _documents(port: int, backend: PolicyBackend, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    route = backend_route("plain", "/plain", "one-only")
    route["spec"]["hostnames"] = ["www.example.com"]
    return [
        *gateway_with_proxy(port, {"telemetry": {"metrics": metrics}}),
        eg_backend("one-only", backend.port),
        route,
    ]


async def _stats(envoy: Envoy, fragment: str) -> dict[str, str]:
    """The stats whose name contains `fragment`: name -> value."""
    text: str = await envoy.admin(f"/stats?filter={fragment}")
    found = (line.split(": ", 1) for line in text.splitlines())
    return {name: value for name, value in found if fragment in name}


async def test_stats_switches_are_pushed_live(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    backend = PolicyBackend("one")
    await backend.start()
    port = pick_free_port()
    feed = GatewayFeed(server.bus)
    feed.publish(_documents(port, backend, {}))
    url = f"http://127.0.0.1:{port}/plain/x"
    host = {"Host": "www.example.com"}
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="metrics") as envoy,
            aiohttp.ClientSession() as session,
        ):
            await until_served(session, url, headers=host)
            assert await _stats(envoy, ".endpoint.") == {}
            assert await _stats(envoy, "upstream_rq_headers_size") == {}
            assert await _stats(envoy, "vcluster") == {}

            # per-endpoint and request/response size stats: the route cluster alone is resent
            cluster_stats = {"enablePerEndpointStats": True, "enableRequestResponseSizesStats": True}
            update = feed.publish(_documents(port, backend, cluster_stats))
            assert set(update.changes) == {CLUSTER}

            async def cluster_stats_shown() -> bool:
                await fetch_json(session, url, headers=host)
                endpoint = await _stats(envoy, f".endpoint.127.0.0.1_{backend.port}.rq_success")
                sizes = await _stats(envoy, "one-only.upstream_rq_headers_size")
                recorded_sizes = [v for v in sizes.values() if v.startswith("P0(")]
                return any(int(v) > 0 for v in endpoint.values()) and bool(recorded_sizes)

            await eventually(cluster_stats_shown, what="per-endpoint and request/response size stats")

            # virtual host stats: the route configuration alone is resent
            all_stats = {**cluster_stats, "enableVirtualHostStats": True}
            update = feed.publish(_documents(port, backend, all_stats))
            assert set(update.changes) == {ROUTE_CONFIGURATION}

            async def virtual_host_stats_shown() -> bool:
                await fetch_json(session, url, headers=host)
                counted = await _stats(envoy, ".vcluster.www_example_com.upstream_rq_total")
                return any(int(v) > 0 for v in counted.values())

            await eventually(virtual_host_stats_shown, what="virtual host stats")
            assert recorded.nacks == []
    finally:
        await backend.stop()
