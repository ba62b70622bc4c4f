"""End to end with a real Envoy: its `envoy.filters.http.ratelimit` filter asks our RateLimitService.

A static bootstrap (no xDS): one HTTP listener whose route sends `generic_key=per-user` + `user=<x-user header>`
to the RLS, and forwards to a local aiohttp backend.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from egd.ratelimit.counters import MemoryCounters
from egd.ratelimit.service import RateLimitService
from tests.egd.ratelimit.conftest import fixed_clock, load
from tests.egd.xds.envoy_process import envoy_binary

CONFIG = """
domain: e2e
descriptors:
  - key: generic_key
    value: per-user
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 3}
"""


def endpoint(cluster: str, port: int) -> dict[str, Any]:
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}]}


def bootstrap(listener_port: int, admin_port: int, rls_port: int, backend_port: int) -> dict[str, Any]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "ingress",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {
                                "cluster": "backend",
                                "rate_limits": [
                                    {
                                        "actions": [
                                            {"generic_key": {"descriptor_value": "per-user"}},
                                            {"request_headers": {"header_name": "x-user", "descriptor_key": "user"}},
                                        ]
                                    }
                                ],
                            },
                        }
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.ratelimit",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
                    "domain": "e2e",
                    "timeout": "2s",
                    "failure_mode_deny": True,
                    "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
                    "rate_limit_service": {
                        "transport_api_version": "V3",
                        "grpc_service": {"envoy_grpc": {"cluster_name": "rls"}},
                    },
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            },
        ],
    }
    http2 = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "http",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                    "filter_chains": [
                        {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "rls",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": http2,
                    "load_assignment": endpoint("rls", rls_port),
                },
                {
                    "name": "backend",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": endpoint("backend", backend_port),
                },
            ],
        },
    }


@pytest.fixture
async def backend_port() -> AsyncIterator[int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    port = pick_free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield port
    await runner.cleanup()


async def start_envoy(config: dict[str, Any], admin_port: int, workdir: Path) -> asyncio.subprocess.Process:
    envoy = envoy_binary()
    path = workdir / "envoy.json"
    path.write_text(json.dumps(config))
    log = (workdir / "envoy.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(envoy), "-c", str(path), "--use-dynamic-base-id", "-l", "warning", stdout=log, stderr=log
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if process.returncode is not None:
                pytest.fail(f"envoy exited: {(workdir / 'envoy.log').read_text()}")
            try:
                async with session.get(f"http://127.0.0.1:{admin_port}/ready") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    await process.wait()
    pytest.fail(f"envoy did not become ready: {(workdir / 'envoy.log').read_text()}")


async def test_envoy_enforces_limits_from_the_current_config_set(
    start: Callable[[RateLimitService], Any], backend_port: int
) -> None:
    service = RateLimitService(counters=MemoryCounters(clock=fixed_clock), clock=fixed_clock)
    load(service, CONFIG)
    running = await start(service)
    listener_port, admin_port = pick_free_port(), pick_free_port()
    with tempfile.TemporaryDirectory() as tmp:
        envoy = await start_envoy(
            bootstrap(listener_port, admin_port, running.port, backend_port), admin_port, Path(tmp)
        )
        try:
            async with aiohttp.ClientSession() as session:

                async def get(user: str) -> aiohttp.ClientResponse:
                    async with session.get(f"http://127.0.0.1:{listener_port}/x", headers={"x-user": user}) as r:
                        await r.read()
                        return r

                alice = [await get("alice") for _ in range(4)]
                assert [r.status for r in alice] == [200, 200, 200, 429]
                assert [r.headers["x-ratelimit-remaining"] for r in alice] == ["2", "1", "0", "0"]
                assert alice[3].headers["x-ratelimit-limit"] == "3, 3;w=60"
                assert alice[3].headers["x-ratelimit-reset"] == "37"
                assert alice[3].headers["x-envoy-ratelimited"] == "true"
                assert (await get("bob")).status == 200  # each user value has its own counter

                load(service, CONFIG.replace("requests_per_unit: 3", "requests_per_unit: 5"))
                more = [await get("alice") for _ in range(2)]  # alice's counter is at 4: 5 passes, 6 does not
                assert [r.status for r in more] == [200, 429]
                assert more[0].headers["x-ratelimit-limit"] == "5, 5;w=60"
        finally:
            envoy.terminate()
            await envoy.wait()
