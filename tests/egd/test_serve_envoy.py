"""The main job end to end: `egd serve` (embedded NATS) + `egd apply` → real Envoy over delta ADS → real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon, egd
from tests.egd.xds.envoy_process import run_envoy


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path / "egd")
    running.start()
    yield running
    assert running.stop() == 0, running.log()


async def start_backend(body: str) -> tuple[web.AppRunner, int]:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=f"{body} {request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = pick_free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    runners = {name: await start_backend(name) for name in ("alpha", "beta")}
    yield {name: port for name, (_, port) in runners.items()}
    for runner, _ in runners.values():
        await runner.cleanup()


def service_documents(name: str, backend_port: int) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{name: http, port: 80, targetPort: {backend_port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
ports: [{{name: http, port: {backend_port}}}]
"""


def gateway_documents(listener_port: int) -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: eg}}
spec: {{controllerName: gateway.envoyproxy.io/gatewayclass-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  gatewayClassName: eg
  addresses: [{{type: IPAddress, value: 127.0.0.1}}]
  listeners: [{{name: http, protocol: HTTP, port: {listener_port}}}]
"""


def route_document(service: str, prefix: str = "/") -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  parentRefs: [{{name: edge}}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]
      backendRefs: [{{name: {service}, port: 80}}]
"""


async def apply(daemon: Daemon, documents: str) -> None:
    result = await asyncio.to_thread(egd, "apply", "-f", "-", "--data-dir", str(daemon.data_dir), stdin=documents)
    assert result.returncode == 0, result.stderr


async def wait_for_body(url: str, expected: str, *, within: float = 15.0) -> float:
    """Seconds until `url` answers 200 with a body starting with `expected`."""
    started = time.monotonic()
    last = ""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < within:
            try:
                async with session.get(url) as response:
                    last = f"{response.status} {await response.text()}"
                    if response.status == 200 and last.startswith(f"200 {expected}"):
                        return time.monotonic() - started
            except aiohttp.ClientError as exc:
                last = repr(exc)
            await asyncio.sleep(0.01)
    raise AssertionError(f"{url} never answered {expected!r} within {within}s; last: {last}")


async def test_apply_reaches_envoy_and_traffic_follows_changes(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    listener_port = pick_free_port()
    await apply(
        daemon,
        gateway_documents(listener_port)
        + "---"
        + service_documents("alpha", backends["alpha"])
        + "---"
        + service_documents("beta", backends["beta"])
        + "---"
        + route_document("alpha"),
    )
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1"):
        url = f"http://127.0.0.1:{listener_port}/shop"
        await wait_for_body(url, "alpha /shop")

        await apply(daemon, route_document("beta"))
        await wait_for_body(url, "beta /shop", within=5)

        result = await asyncio.to_thread(egd, "delete", "httproute", "web", "--data-dir", str(daemon.data_dir))
        assert result.returncode == 0, result.stderr
        async with aiohttp.ClientSession() as session:
            for _ in range(500):
                async with session.get(url) as response:
                    if response.status == 404:
                        break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the deleted route still answers")

        envoys = json.loads(daemon.http_get("/api/v1/envoys"))
        assert [(e["node_id"], e["gateway"], e["variant"]) for e in envoys] == [("envoy-1", "default/edge", "delta")]
        assert envoys[0]["recent_nacks"] == []
        acked = envoys[0]["acked_versions"]
        assert any("Listener" in type_url and versions for type_url, versions in acked.items())

    gateway = json.loads(egd("get", "gateway", "edge", "-o", "json", "--data-dir", str(daemon.data_dir)).stdout)
    conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
    assert conditions == {"Accepted": "True", "Programmed": "True"}
    assert gateway["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    metrics = daemon.http_get("/metrics")
    assert "egd_xds_acks_total" in metrics


async def test_status_reports_a_missing_backend(daemon: Daemon) -> None:
    await apply(daemon, gateway_documents(pick_free_port()) + "---" + route_document("nowhere"))
    route = json.loads(
        (
            await asyncio.to_thread(egd, "get", "httproute", "web", "-o", "json", "--data-dir", str(daemon.data_dir))
        ).stdout
    )
    (parent,) = route["status"]["parents"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in parent["conditions"]}
    assert conditions["ResolvedRefs"] == ("False", "BackendNotFound")
    assert conditions["Accepted"] == ("True", "Accepted")
    assert parent["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
