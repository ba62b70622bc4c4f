"""Two egd replicas on one NATS and an Envoy whose bootstrap lists both: kill -9 the replica it talks to,
and the Envoy reconnects to the other, keeps its configuration, and a steady request loop through it sees no
failed request; a change applied afterwards reaches it through the survivor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from egd.natsserver import NatsServerProcess, pick_free_port
from tests.egd.daemon import Daemon, egd
from tests.egd.failures.scenario import admin_json, eventually
from tests.egd.serving import gateway_documents, route_document, service_documents
from tests.egd.xds.envoy_process import run_envoy


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    yield server
    await server.stop()


class RequestLoop:
    """GETs `url` back to back until stopped; counts answers by body prefix and every failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: dict[str, int] = {}
        self.failures: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._stop.is_set():
                try:
                    async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                        body = await response.text()
                        if response.status != 200:
                            self.failures.append(f"{response.status} {body[:80]}")
                        else:
                            backend = body.split()[0]
                            self.answers[backend] = self.answers.get(backend, 0) + 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.failures.append(repr(exc))
                await asyncio.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()


async def connected_to(daemon: Daemon) -> bool:
    if daemon.process is None or daemon.process.poll() is not None:
        return False
    return any(envoy["node_id"] == "edge-1" for envoy in await admin_json(daemon, "/api/v1/envoys"))


async def test_kill_9_of_a_replica_fails_envoy_over_without_a_failed_request(
    tmp_path: Path, nats: NatsServerProcess, backends: dict[str, int]
) -> None:
    replicas = [Daemon(tmp_path / f"egd-{i}", "--nats-url", nats.url) for i in (1, 2)]
    for replica in replicas:
        await asyncio.to_thread(replica.start)
    try:
        listener_port = pick_free_port()
        documents = "---".join(
            [
                gateway_documents(listener_port),
                service_documents("alpha", backends["alpha"]),
                service_documents("beta", backends["beta"]),
                route_document("alpha"),
            ]
        )
        cli = ("--nats-url", nats.url, "--data-dir", str(tmp_path / "cli"))
        await asyncio.to_thread(egd, "apply", "-f", "-", *cli, stdin=documents, check=True)
        ports = [replica.xds_port for replica in replicas]
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=ports, node_id="edge-1"):
            loop = RequestLoop(f"http://127.0.0.1:{listener_port}/shop")
            looping = asyncio.create_task(loop.run())
            try:
                await eventually(lambda: _answered(loop, "alpha"), within=15, what="traffic through Envoy")
                loop.failures.clear()  # before the first config arrived, Envoy had no listener: not our test
                serving = await eventually(
                    lambda: _serving_replica(replicas), within=10, what="a replica serving the Envoy"
                )
                survivor = replicas[1 - replicas.index(serving)]

                killed_at = time.monotonic()
                await asyncio.to_thread(serving.kill)
                await eventually(lambda: connected_to(survivor), within=15, what="Envoy reconnected to the survivor")
                failover_seconds = time.monotonic() - killed_at
                await asyncio.sleep(0.5)  # traffic on the reconnected config

                await asyncio.to_thread(egd, "apply", "-f", "-", *cli, stdin=route_document("beta"), check=True)
                await eventually(lambda: _answered(loop, "beta"), within=10, what="a change through the survivor")
            finally:
                loop.stop()
                await looping
        assert loop.failures == [], loop.failures[:5]
        assert loop.answers["alpha"] > 50 and loop.answers["beta"] > 0, loop.answers
        print(f"failover after kill -9: {failover_seconds:.2f}s, requests: {loop.answers}")
    finally:
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                assert await asyncio.to_thread(replica.stop) == 0, replica.log()


async def _answered(loop: RequestLoop, backend: str) -> bool:
    return loop.answers.get(backend, 0) > 0


async def _serving_replica(replicas: list[Daemon]) -> Daemon | None:
    for replica in replicas:
        if await connected_to(replica):
            return replica
    return None
