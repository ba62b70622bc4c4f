"""A real fleet for benchmarks: `egd serve` (embedded NATS), local backends, N Gateways each served to its own
real Envoy, and the HTTPRoutes of the benchmark attached to every Gateway.

One Envoy per Gateway (each Gateway its own port) so that a request can be aimed at one given Envoy: Envoys
of one Gateway would all bind the same port (SO_REUSEPORT) and the kernel would pick one per connection.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from egd.commands.apply import apply_resources, delete_resources, make_audit
from egd.natsserver import pick_free_port
from events.keys import ResourceKey
from projections.resources.decode import decode_resource
from tests.egd.daemon import Daemon
from tests.egd.serving import backends, metric_values
from tests.egd.xds.envoy_process import Envoy, run_envoy

GW = "gateway.networking.k8s.io/v1"
BACKENDS = ("alpha", "beta", "gamma")
POLL_INTERVAL = float(os.environ.get("EGD_BENCH_POLL_SECONDS", "0.001"))


def gateway_class() -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "GatewayClass",
        "metadata": {"name": "eg"},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
    }


def gateway(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "gatewayClassName": "eg",
            "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
            "listeners": [{"name": "http", "protocol": "HTTP", "port": port}],
        },
    }


def service(name: str, port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port}],
        },
    ]


def rule(path: str, weights: dict[str, int]) -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": path}}],
        "backendRefs": [{"name": name, "port": 80, "weight": weight} for name, weight in weights.items()],
    }


def route(name: str, gateways: Sequence[str], rules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"parentRefs": [{"name": g} for g in gateways], "rules": list(rules)},
    }


def route_key(name: str) -> ResourceKey:
    return ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name=name)


async def apply_documents(nats_url: str, documents: Sequence[dict[str, Any]]) -> None:
    """What `egd apply -f` does after reading its files, in this process: validate every document, append."""
    decoded = [decode_resource(msgspec.json.decode(msgspec.json.encode(d)), "bench") for d in documents]
    await apply_resources(nats_url, [(r.key, r.document) for r in decoded], make_audit("bench", "", "apply"))


async def delete_routes(nats_url: str, names: Sequence[str]) -> None:
    await delete_resources(
        nats_url, [route_key(n) for n in names], make_audit("bench", "", "delete"), ignore_not_found=False
    )


async def first_answer(session: aiohttp.ClientSession, url: str, status: int = 200, within: float = 30.0) -> float:
    """perf_counter() at the first answer `status` from `url`, asking every POLL_INTERVAL: asking back to back
    from one loop per Envoy would take a core of the two from the control plane and the Envoys being measured."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        try:
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
                if response.status == status:
                    return time.perf_counter()
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError(f"{url} never answered {status} within {within}s")


async def first_answers(
    session: aiohttp.ClientSession, urls: Sequence[str], status: int = 200, within: float = 60.0
) -> list[float]:
    """perf_counter() at the first answer `status` from each of `urls`, asked side by side."""
    return list(await asyncio.gather(*(first_answer(session, url, status, within) for url in urls)))


def cpu_seconds(pid: int) -> float:
    """CPU time the threads of process `pid` have spent so far, to the nanosecond (the scheduler's own count:
    /proc/PID/stat counts in ticks of 10 ms, coarser than one Envoy's work on one change)."""
    threads = Path(f"/proc/{pid}/task")
    total = 0
    for thread in threads.iterdir():
        try:
            total += int((thread / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return total / 1e9


@dataclass
class Fleet:
    daemon: Daemon
    nats_url: str
    gateways: list[str]
    ports: list[int]
    envoys: list[Envoy]
    session: aiohttp.ClientSession

    def urls(self, path: str) -> list[str]:
        return [f"http://127.0.0.1:{port}{path}" for port in self.ports]

    async def status(self, url: str) -> int:
        async with self.session.get(url, allow_redirects=False) as response:
            await response.read()
            return response.status

    async def everywhere(self, path: str, status: int = 200, within: float = 60.0) -> list[float]:
        """perf_counter() at the first answer `status` for `path` from each Envoy."""
        return await first_answers(self.session, self.urls(path), status, within)

    def metric(self, name: str) -> dict[str, float]:
        return metric_values(self.daemon.http_get("/metrics"), name)

    def envoy_cpu(self) -> float:
        """CPU seconds spent so far by all the Envoys together."""
        return sum(cpu_seconds(envoy.pid) for envoy in self.envoys)

    def egd_cpu(self) -> float:
        """CPU seconds spent so far by `egd serve` (its embedded NATS server is a process of its own)."""
        assert self.daemon.process is not None
        return cpu_seconds(self.daemon.process.pid)


@asynccontextmanager
async def fleet(
    tmp_path: Path, *, gateways: int, routes: int, route_chunk: int = 2_000, serve_args: Sequence[str] = ()
) -> AsyncIterator[Fleet]:
    """`gateways` Gateways with one Envoy each, `routes` background routes `bg-<i>` (path `/bg-<i>`, alpha)
    attached to every Gateway, and backends alpha, beta, gamma. Yields once every Envoy serves them all."""
    names = [f"gw-{i}" for i in range(gateways)]
    ports = [pick_free_port() for _ in names]
    daemon = Daemon(tmp_path / "egd", *serve_args)
    await asyncio.to_thread(daemon.start)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(asyncio.to_thread, daemon.stop)
        backend_ports = await stack.enter_async_context(backends(*BACKENDS))
        nats_url = daemon.nats_url
        site = [gateway_class(), *(gateway(n, p) for n, p in zip(names, ports, strict=True))]
        site += [d for name in BACKENDS for d in service(name, backend_ports[name])]
        await apply_documents(nats_url, site)
        for start in range(0, routes, route_chunk):
            chunk = [
                route(f"bg-{i}", names, [rule(f"/bg-{i}", {"alpha": 1})])
                for i in range(start, min(routes, start + route_chunk))
            ]
            await apply_documents(nats_url, chunk)
        envoys = [
            await stack.enter_async_context(
                run_envoy(tmp_path, gateway=f"default/{name}", xds_port=daemon.xds_port, node_id=f"envoy-{name}")
            )
            for name in names
        ]
        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=10))
        )
        built = Fleet(daemon, nats_url, names, ports, envoys, session)
        if routes:
            await built.everywhere(f"/bg-{routes - 1}", within=300)
        yield built
