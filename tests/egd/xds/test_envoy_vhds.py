"""End to end: a real Envoy 1.40 on delta ADS reads its virtual hosts over VHDS (Gateway API documents ->
IR -> xDS -> Envoy): traffic, a live route change that sends one VirtualHost, a host removed (404), a
listener without routes, and an egd restart after which Envoy's `initial_resource_versions` leave nothing
to send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from egd.bus import LatestValues
from egd.natsserver import pick_free_port
from egd.xds import AggregatedDiscoveryServicer, start_xds_server
from projections.ir import GatewayIR
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    ROUTE_CONFIGURATION,
    VIRTUAL_HOST,
    ResourceSet,
)
from projections.xds.translate import XdsTranslator
from tests.egd.serving import echo_backends, eventually
from tests.egd.xds.conftest import GROUP, Recorded
from tests.egd.xds.envoy_process import Envoy, run_envoy
from tests.egd.xds.gateway_documents import GW_API, gateway, gateway_ir, http_listener, service

pytestmark = pytest.mark.slow


def _route(name: str, hostname: str, path: str, backend: str, listener: str = "http") -> dict[str, Any]:
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "eg", "sectionName": listener}],
            "hostnames": [hostname],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                    "backendRefs": [{"name": backend, "port": 80}],
                }
            ],
        },
    }


def gateway_of(ports: dict[str, int], routes: list[dict[str, Any]], *, second_listener: int | None = None) -> GatewayIR:
    listeners = [http_listener(ports["http"])]
    if second_listener is not None:
        listeners.append(http_listener(second_listener, "more"))
    return gateway_ir(
        [*gateway(listeners), *service("alpha", ports["alpha"]), *service("beta", ports["beta"]), *routes]
    )


async def status_and_backend(port: int, host: str, path: str) -> tuple[int, str]:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}{path}", headers={"Host": host}, timeout=aiohttp.ClientTimeout(total=3)
            ) as response,
        ):
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, str(body.get("backend", ""))
    except aiohttp.ClientError:
        return 0, ""


class XdsServer:
    """egd's ADS server on a fixed port, so that it can be stopped and started again (an egd restart)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bus: LatestValues[str, ResourceSet] = LatestValues()
        self.recorded = Recorded()
        self.servicer = AggregatedDiscoveryServicer(self.bus, hooks=self.recorded.hooks())
        self._server: Any = None

    async def start(self) -> None:
        self._server, _ = await start_xds_server(self.servicer, f"127.0.0.1:{self.port}")

    async def stop(self) -> None:
        await self._server.stop(grace=None)

    def sent(self, since: int = 0) -> list[tuple[str, int, int]]:
        """(type URL, resources, removals) of the responses sent since the `since`-th."""
        return [(s.type_url, s.resources, s.removed) for s in self.recorded.sent_since(since)]

    def all_acked(self, resources: ResourceSet) -> bool:
        served = resources.delta_view()
        expected = {t: {n: r.version for n, r in served.of_type(t).items()} for t in served.by_type}
        return any(
            {t: v for t, v in s.acked_versions().items() if v} == expected for s in self.servicer.streams.values()
        )


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    async with echo_backends("alpha", "beta") as ports:
        yield ports


@pytest.fixture
async def xds() -> AsyncIterator[XdsServer]:
    server = XdsServer(pick_free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _vhds_in_dump(envoy: Envoy) -> tuple[bool, list[str]]:
    configs = await envoy.config_dump("dynamic_route_configs")
    route_configuration = configs[0]["route_config"]
    return "vhds" in route_configuration, sorted(v["name"] for v in route_configuration.get("virtual_hosts", []))


async def test_virtual_hosts_over_vhds_change_live_and_a_removed_host_answers_404(
    xds: XdsServer, backends: dict[str, int], tmp_path: Path
) -> None:
    ports = {**backends, "http": pick_free_port()}
    routes = [_route("a", "a.example", "/", "alpha"), _route("b", "b.example", "/", "beta")]
    translator = XdsTranslator()
    resources = translator.update(gateway_of(ports, routes))
    xds.bus.publish(GROUP, resources)
    async with run_envoy(tmp_path, gateway=GROUP, xds_port=xds.port, node_id="vhds") as envoy:

        async def serves(host: str, path: str, expected: tuple[int, str]) -> bool:
            return await status_and_backend(ports["http"], host, path) == expected

        await eventually(lambda: serves("a.example", "/x", (200, "alpha")), what="a.example over VHDS")
        assert await serves("b.example", "/x", (200, "beta"))
        assert await serves("c.example", "/x", (404, ""))  # no virtual host: 404, no on-demand filter
        has_vhds, dumped = await _vhds_in_dump(envoy)
        assert has_vhds
        assert dumped == [f"{GROUP}/http/{ports['http']}/a.example", f"{GROUP}/http/{ports['http']}/b.example"]

        # one route changed: one VirtualHost goes out, nothing else, and traffic follows
        await eventually(lambda: _true(xds.all_acked(resources)), what="everything ACKed")
        before = len(xds.recorded.responses)
        routes[0] = _route("a", "a.example", "/moved", "alpha")
        resources = translator.update(gateway_of(ports, routes))
        xds.bus.publish(GROUP, resources)
        # the old route (prefix "/") also serves /moved/x: the change shows when /x stops being served
        await eventually(lambda: serves("a.example", "/x", (404, "")), what="the changed route")
        assert await serves("a.example", "/moved/x", (200, "alpha"))
        assert await serves("b.example", "/x", (200, "beta"))
        await eventually(lambda: _true(xds.all_acked(resources)), what="the change ACKed")
        assert xds.sent(before) == [(VIRTUAL_HOST, 1, 0)]

        # a host removed: its VirtualHost is removed (before the cluster only it used), Envoy answers 404 for
        # it, the other still works
        before = len(xds.recorded.responses)
        resources = translator.update(gateway_of(ports, routes[:1]))
        xds.bus.publish(GROUP, resources)
        await eventually(lambda: serves("b.example", "/x", (404, "")), what="the removed host answers 404")
        assert await serves("a.example", "/moved/x", (200, "alpha"))
        await eventually(lambda: _true(xds.all_acked(resources)), what="the removal ACKed")
        assert xds.sent(before) == [(VIRTUAL_HOST, 0, 1), (CLUSTER_LOAD_ASSIGNMENT, 0, 1), (CLUSTER, 0, 1)]
        assert (await _vhds_in_dump(envoy))[1] == [f"{GROUP}/http/{ports['http']}/a.example"]
        assert xds.recorded.nacks == []


async def test_a_listener_without_routes_warms_at_once_and_takes_routes_later(
    xds: XdsServer, backends: dict[str, int], tmp_path: Path
) -> None:
    """A route configuration with no virtual host gets a placeholder: Envoy's VHDS warming needs one
    VirtualHost of the namespace, and would otherwise hold the new listener for `initial_fetch_timeout`."""
    ports = {**backends, "http": pick_free_port()}
    more = pick_free_port()
    routes = [_route("a", "a.example", "/", "alpha")]
    translator = XdsTranslator()
    xds.bus.publish(GROUP, translator.update(gateway_of(ports, routes)))
    async with run_envoy(tmp_path, gateway=GROUP, xds_port=xds.port, node_id="vhds-empty"):
        await eventually(
            lambda: _equal(status_and_backend(ports["http"], "a.example", "/"), (200, "alpha")), what="first listener"
        )
        xds.bus.publish(GROUP, translator.update(gateway_of(ports, routes, second_listener=more)))
        # listening within 5 s (well under Envoy's 15 s initial_fetch_timeout): a 404, no virtual host matches
        await eventually(
            lambda: _equal(status_and_backend(more, "z.example", "/"), (404, "")), within=5, what="empty listener"
        )
        routes.append(_route("z", "z.example", "/", "beta", listener="more"))
        xds.bus.publish(GROUP, translator.update(gateway_of(ports, routes, second_listener=more)))
        await eventually(
            lambda: _equal(status_and_backend(more, "z.example", "/"), (200, "beta")), what="route on the new listener"
        )
        assert xds.recorded.nacks == []


async def test_egd_restart_sends_only_what_differs_to_a_reconnecting_envoy(
    xds: XdsServer, backends: dict[str, int], tmp_path: Path
) -> None:
    ports = {**backends, "http": pick_free_port()}
    routes = [_route("a", "a.example", "/", "alpha"), _route("b", "b.example", "/", "beta")]
    resources = XdsTranslator().update(gateway_of(ports, routes))
    xds.bus.publish(GROUP, resources)
    async with run_envoy(tmp_path, gateway=GROUP, xds_port=xds.port, node_id="vhds-restart"):
        await eventually(lambda: _true(xds.all_acked(resources)), what="everything ACKed")
        await xds.stop()
        # a new egd (a fresh translator, the same configuration, then one route changed) on the same port
        restarted = XdsServer(xds.port)
        routes[1] = _route("b", "b.example", "/", "alpha")
        changed = XdsTranslator().update(gateway_of(ports, routes))
        restarted.bus.publish(GROUP, changed)
        await restarted.start()
        xds._server = restarted._server  # the fixture stops the one running
        await eventually(lambda: _true(restarted.all_acked(changed)), within=30, what="reconnected and ACKed")
        await eventually(
            lambda: _equal(status_and_backend(ports["http"], "b.example", "/"), (200, "alpha")), what="the change"
        )
        assert await status_and_backend(ports["http"], "a.example", "/") == (200, "alpha")
        sent = [(t, n) for t, n, _ in restarted.sent() if n]
        assert sent == [(VIRTUAL_HOST, 1)], sent  # b.example only: every other version matched
        assert ROUTE_CONFIGURATION not in {t for t, _ in sent}
        assert restarted.recorded.nacks == []


async def _true(value: bool) -> bool:
    return value


async def _equal(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)
