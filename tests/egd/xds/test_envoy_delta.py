"""End to end: a real Envoy 1.40 on delta ADS (bootstrap from `egd bootstrap`) takes its config from the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from google.protobuf import duration_pb2

from egd.natsserver import pick_free_port
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    ResourceSet,
    resource_set,
    versioned,
)
from tests.egd.serving import Handler, eventually, http_apps
from tests.egd.xds.builders import cluster, endpoints, listener, route
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import Envoy, run_envoy

pytestmark = pytest.mark.slow


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    """Backends answering their name, `alpha` and `beta`: name -> port."""
    async with http_apps({name: _answering(name) for name in ("alpha", "beta")}, method="GET") as ports:
        yield ports


def _answering(name: str) -> Handler:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text=name)

    return hello


async def get(port: int) -> tuple[int, str]:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/x", timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


def gateway_config(listener_port: int, target: str, backends: dict[str, int], *, extra: list[Any] = ()) -> ResourceSet:  # type: ignore[assignment]
    return resource_set(
        [
            *(cluster(name) for name in backends),
            *(endpoints(name, port) for name, port in backends.items()),
            listener("http", listener_port, "http-routes"),
            route("http-routes", target),
            *extra,
        ]
    )


def dumped_versions(configs: list[dict[str, Any]], key: str) -> dict[str, str]:
    found = {}
    for entry in configs:
        inner = entry.get(key) or entry.get("active_state", {}).get(key) or {}
        name = inner.get("name") or inner.get("cluster_name")
        version = entry.get("version_info") or entry.get("active_state", {}).get("version_info")
        if name:
            found[name] = version
    return found


async def test_envoy_follows_pushes_acks_and_survives_a_nack(
    server: Server, recorded: Recorded, backends: dict[str, int], tmp_path: Path
) -> None:
    listener_port = pick_free_port()
    async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="e2e") as envoy:
        # 1. a listener (RDS over ADS) -> route -> EDS cluster alpha
        config = gateway_config(listener_port, "alpha", {"alpha": backends["alpha"]})
        server.bus.publish(GROUP, config)
        await eventually(lambda: _answers(listener_port, "alpha"), what="traffic to alpha")

        # Envoy ACKed every resource at the version we sent, and its config_dump says the same
        stream = next(s for s in server.servicer.streams.values() if s.info.node_id == "e2e")
        expected = {t: {n: r.version for n, r in config.of_type(t).items()} for t in config.by_type}
        await eventually(lambda: _acked(server, expected), what="Envoy ACKs everything")
        assert stream.info.node_group == GROUP
        clusters = dumped_versions(await envoy.config_dump("dynamic_active_clusters"), "cluster")
        assert clusters == {"alpha": versioned(cluster("alpha")).version}
        listeners = dumped_versions(await envoy.config_dump("dynamic_listeners"), "listener")
        assert listeners == {"http": versioned(listener("http", listener_port, "http-routes")).version}

        # 2. repoint the route to beta under steady traffic: make-before-break, no failed request
        failures: list[tuple[int, str]] = []
        seen: set[str] = set()
        stop = asyncio.Event()

        async def traffic() -> None:
            while not stop.is_set():
                status, body = await get(listener_port)
                seen.add(body)
                if status != 200:
                    failures.append((status, body))

        load = asyncio.create_task(traffic())
        await asyncio.sleep(0.2)
        server.bus.publish(GROUP, gateway_config(listener_port, "beta", {"beta": backends["beta"]}))
        await eventually(lambda: _answers(listener_port, "beta"), what="traffic follows the route to beta")
        await asyncio.sleep(0.3)
        stop.set()
        await load
        assert failures == []
        assert seen == {"alpha", "beta"}
        await eventually(
            lambda: _dumped(envoy, "dynamic_active_clusters", "cluster", {"beta"}), what="alpha removed from Envoy"
        )

        # 3. a cluster Envoy rejects is NACKed: recorded, not resent, and traffic keeps flowing
        responses_before = len(recorded.acks) + len(recorded.nacks)
        bad = cluster("broken")
        bad.connect_timeout.CopyFrom(duration_pb2.Duration(seconds=-1))
        server.bus.publish(GROUP, gateway_config(listener_port, "beta", {"beta": backends["beta"]}, extra=[bad]))
        await eventually(lambda: _nacked(recorded, CLUSTER), what="Envoy NACKs the broken cluster")
        info, nacked = next((i, n) for i, n in recorded.nacks if n.type_url == CLUSTER)
        assert info.node_id == "e2e"
        assert "duration" in nacked.error_message
        assert nacked.response is not None
        assert [n for n, _ in nacked.response.resources] == ["broken"]
        await asyncio.sleep(1.0)
        assert len(recorded.acks) + len(recorded.nacks) == responses_before + 1  # no resend loop
        assert await _answers(listener_port, "beta")

        # 4. remove the listener: Envoy stops listening
        server.bus.publish(GROUP, resource_set([cluster("beta"), endpoints("beta", backends["beta"])]))
        await eventually(lambda: _refused(listener_port), what="listener removed")
        await eventually(lambda: _dumped(envoy, "dynamic_listeners", "listener", set()), what="no listener left")
        assert stream.acked_versions()[LISTENER] == {}
        assert set(stream.acked_versions()[CLUSTER]) == {"beta"}
    assert {CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION} <= {a.type_url for _, a in recorded.acks}


async def _answers(port: int, body: str) -> bool:
    return await get(port) == (200, body)


async def _refused(port: int) -> bool:
    return (await get(port))[0] == 0


async def _acked(server: Server, expected: dict[str, dict[str, str]]) -> bool:
    return any(s.acked_versions() == expected for s in server.servicer.streams.values())


async def _nacked(recorded: Recorded, type_url: str) -> bool:
    return any(n.type_url == type_url for _, n in recorded.nacks)


async def _dumped(envoy: Envoy, resource: str, key: str, names: set[str]) -> bool:
    return set(dumped_versions(await envoy.config_dump(resource), key)) == names
