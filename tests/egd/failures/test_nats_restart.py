"""The only nats-server restarts under a running daemon: /readyz turns 503 while NATS is away (the daemon
cannot know what it misses), the daemon reconnects by itself, folds what was published after NATS came back,
and is ready again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from egd.natsserver import NatsServerProcess
from tests.egd.daemon import Daemon
from tests.egd.failures.scenario import admin_json, eventually, publish, service, service_names


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    yield server
    await server.stop()


async def test_daemon_rides_out_a_nats_restart(tmp_path: Path, nats: NatsServerProcess) -> None:
    daemon = Daemon(tmp_path / "egd", "--nats-url", nats.url)
    await asyncio.to_thread(daemon.start)
    try:
        await publish(nats.url, [service("before")])
        await eventually(lambda: _has(daemon, "before"), within=10, what="the first event folded")

        await nats.stop()
        await eventually(lambda: _status_is(daemon, 503), within=10, what="/readyz 503 while NATS is away")
        assert await asyncio.to_thread(daemon.http_status, "/healthz") == 200  # alive, just not ready

        await nats.start()
        await publish(nats.url, [service("after-1"), service("after-2")])
        await eventually(lambda: _has(daemon, "after-2"), within=20, what="events published after the restart")
        await eventually(lambda: _status_is(daemon, 200), within=10, what="/readyz 200 again")

        assert await service_names(daemon) == {"before", "after-1", "after-2"}
        assert (await admin_json(daemon, "/api/v1/sequence"))["folded_seq"] == 3
        metrics = await asyncio.to_thread(daemon.http_get, "/metrics")
        assert _sample(metrics, "egd_nats_reconnects_total") >= 1
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log()


async def _has(daemon: Daemon, name: str) -> bool:
    return name in await service_names(daemon)


async def _status_is(daemon: Daemon, status: int) -> bool:
    return await asyncio.to_thread(daemon.http_status, "/readyz") == status


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
