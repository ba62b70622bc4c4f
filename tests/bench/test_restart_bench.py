"""Restart with a long log (DESIGN target: ready <= 2 s with 1,000,000 events over 10,000 live objects, flat as
the log grows), with snapshots and from sequence 1; and replay from sequence 1 (target >= 50,000 events/s)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore
from events.keys import ResourceKey
from events.schema import ResourceApplied
from events.store import Append
from tests.bench.conftest import ROUNDS, report
from tests.bench.test_replay_bench import LIVE_OBJECTS, route_event
from tests.egd.daemon import Daemon

LOG_SIZES = [int(n) for n in os.environ.get("EGD_BENCH_LOG_SIZES", "100000,1000000").split(",")]


def site_events(now: datetime) -> list[ResourceApplied]:
    documents = [
        (
            "gateway.networking.k8s.io",
            "GatewayClass",
            "",
            "eg",
            {"spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}},
            "gateway.networking.k8s.io/v1",
        ),
        (
            "gateway.networking.k8s.io",
            "Gateway",
            "default",
            "edge",
            {"spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]}},
            "gateway.networking.k8s.io/v1",
        ),
        ("", "Service", "default", "web", {"spec": {"ports": [{"name": "http", "port": 80}]}}, "v1"),
    ]
    events = []
    for group, kind, namespace, name, body, api_version in documents:
        key = ResourceKey(group=group, kind=kind, namespace=namespace, name=name)
        metadata = {"name": name, "namespace": namespace} if namespace else {"name": name}
        document = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
        events.append(ResourceApplied(key=key, object=document, actor="bench", occurred_at=now))
    return events


async def fill_log(url: str, total: int) -> None:
    store = await JetStreamEventStore.connect(url)
    now = datetime.now(UTC)
    try:
        await store.append([Append(event=event) for event in site_events(now)])
        done = 3
        while done < total:
            chunk = min(10_000, total - done)
            await store.append([Append(event=route_event(done + i, now)) for i in range(chunk)])
            done += chunk
    finally:
        await store.close()


@pytest.fixture(params=LOG_SIZES, ids=lambda n: f"{n}-events")
async def filled(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[NatsServerProcess, int]]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        started = time.perf_counter()
        await fill_log(server.url, request.param)
        print(f"\nfilled {request.param:,} events over {LIVE_OBJECTS:,} routes in {time.perf_counter() - started:.1f}s")
        yield server, request.param


def time_to_ready(daemon: Daemon) -> float:
    started = time.perf_counter()
    daemon.start(timeout=600)
    return time.perf_counter() - started


def test_restart_to_ready(filled: tuple[NatsServerProcess, int], tmp_path: Path) -> None:
    nats, size = filled
    cold = Daemon(tmp_path / "cold", "--nats-url", nats.url, "--no-snapshots")
    from_start = time_to_ready(cold)
    cold.stop()
    report(
        f"ready from sequence 1, {size:,} events (replay {size / from_start:,.0f} events/s incl. start-up)",
        [from_start],
        "s",
        better="lower",
    )
    caught_up = next(json.loads(line) for line in cold.log().splitlines() if '"caught up"' in line)
    report(f"  of which reading + folding {size:,} events", [size / caught_up["fold_seconds"]], "events/s")
    report("  and translating the final state", [caught_up["translate_seconds"]], "s", better="lower")

    first = Daemon(tmp_path / "first", "--nats-url", nats.url)
    time_to_ready(first)
    assert first.stop() == 0  # writes the snapshot on shutdown
    samples = []
    for round_ in range(ROUNDS):
        daemon = Daemon(tmp_path / f"warm-{round_}", "--nats-url", nats.url)
        samples.append(time_to_ready(daemon))
        assert '"event": "snapshot loaded"' in daemon.log()
        assert daemon.stop() == 0
    report(f"ready with a snapshot, {size:,} events over {LIVE_OBJECTS:,} objects", samples, "s", better="lower")
