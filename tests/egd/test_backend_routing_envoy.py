"""How Envoy reaches a route's backends, end to end: `egd serve` + `egd apply` → real Envoy → real backends.

- BackendTrafficPolicy `routingType: Service`: the Service's cluster IP and port instead of its endpoints.
- BackendTrafficPolicy active HTTP health checks: an endpoint whose health path fails gets no traffic.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon
from tests.egd.serving import (
    apply,
    bodies,
    gateway_documents,
    route_document,
    service_documents,
    start_backend,
    wait_for_body,
)
from tests.egd.xds.envoy_process import run_envoy

GROUP = "gateway.networking.k8s.io"


def policy_document(spec: str) -> str:
    return f"""
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: backend-policy}}
spec:
  targetRefs: [{{group: {GROUP}, kind: HTTPRoute, name: web}}]
  {spec}
"""


async def test_routing_type_service_goes_to_the_cluster_ip(daemon: Daemon, tmp_path: Path) -> None:
    """The Service's cluster IP is 127.0.0.1 and its port a backend's ("cluster-ip"); its EndpointSlice names
    another backend ("endpoint"). Without the policy Envoy reaches the endpoint; with it, the cluster IP; the
    policy deleted, the endpoint again."""
    via_ip, ip_port = await start_backend("cluster-ip")
    via_slice, slice_port = await start_backend("endpoint")
    listener_port = pick_free_port()
    service = f"""
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  clusterIP: 127.0.0.1
  ports: [{{name: http, port: {ip_port}, targetPort: {slice_port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: hello-1, labels: {{kubernetes.io/service-name: hello}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {slice_port}}}]
"""
    route = route_document("hello").replace("port: 80", f"port: {ip_port}")
    try:
        await apply(daemon, gateway_documents(listener_port) + "---" + service + "---" + route)
        url = f"http://127.0.0.1:{listener_port}/x"
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-routing"):
            await wait_for_body(url, "endpoint /x")
            await apply(daemon, policy_document("routingType: Service"))
            await wait_for_body(url, "cluster-ip /x")
            assert await bodies(url, 10) == {"cluster-ip /x": 10}
            await apply(daemon, policy_document("routingType: Endpoint"))
            await wait_for_body(url, "endpoint /x")
    finally:
        await via_ip.cleanup()
        await via_slice.cleanup()


@asynccontextmanager
async def health_reporting_backends(healthy: dict[str, bool]) -> AsyncIterator[int]:
    """One backend per loopback address, all on one port: `/healthz` answers 200 or 503 as `healthy` says,
    anything else `<address> <path>`. Yields the port."""
    port = pick_free_port()
    runners = []
    for host, ok in healthy.items():

        async def answer(request: web.Request, host: str = host, ok: bool = ok) -> web.Response:
            if request.path == "/healthz":
                return web.Response(status=200 if ok else 503)
            return web.Response(text=f"{host} {request.path}")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
    try:
        yield port
    finally:
        for runner in runners:
            await runner.cleanup()


async def until_bodies(url: str, accept: Callable[[Counter[str]], bool], what: str, within: float = 15) -> None:
    started = time.monotonic()
    seen: Counter[str] = Counter()
    while time.monotonic() - started < within:
        seen = await bodies(url, 20)
        if accept(seen):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {what}; last {seen}")


HEALTH_CHECK = """healthCheck:
    active:
      type: HTTP
      interval: 200ms
      timeout: 100ms
      unhealthyThreshold: 1
      healthyThreshold: 1
      http: {path: /healthz, expectedStatuses: [200]}"""


async def test_active_health_check_keeps_traffic_off_a_failing_endpoint(daemon: Daemon, tmp_path: Path) -> None:
    """Two endpoints, one whose health path answers 503: once the policy's active HTTP health check has run,
    every request goes to the healthy one."""
    listener_port = pick_free_port()
    async with health_reporting_backends({"127.0.0.1": True, "127.0.0.2": False}) as port:
        await apply(
            daemon,
            gateway_documents(listener_port)
            + "---"
            + service_documents("hello", port, addresses=("127.0.0.1", "127.0.0.2"))
            + "---"
            + route_document("hello"),
        )
        url = f"http://127.0.0.1:{listener_port}/x"
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-health"):
            await wait_for_body(url, "127.0.0.")
            # without a health check, both endpoints take traffic
            await until_bodies(url, lambda seen: set(seen) == {"127.0.0.1 /x", "127.0.0.2 /x"}, "both answering")
            await apply(daemon, policy_document(HEALTH_CHECK))
            await until_bodies(url, lambda seen: seen == {"127.0.0.1 /x": 20}, "only the healthy one answering")
            assert await bodies(url, 30) == {"127.0.0.1 /x": 30}
