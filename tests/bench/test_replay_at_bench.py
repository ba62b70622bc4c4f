"""`egd replay --at` the middle of a 1,000,000-event log over 10,000 live HTTPRoutes on one Gateway.

Two figures: the whole command as users run it (a subprocess: start-up, reading 500,000 records from
JetStream, fold, translation from scratch of the state at the point, output), and the in-process share
(read + fold + translate), without start-up and output.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from egd.commands.replay import fold_log
from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore
from events.jetstream.snapshots import MILESTONE_EVENTS, JetStreamSnapshots
from events.keys import ResourceKey
from events.schema import Event, ResourceApplied
from events.store import Append
from projections.pipeline import Pipeline
from projections.replay import Point
from projections.snapshot import encode_snapshot
from tests.bench.conftest import ROUNDS, measure, report
from tests.bench.test_replay_bench import LIVE_OBJECTS, route_event

ROOT = Path(__file__).resolve().parents[2]
LOG_SIZE = int(os.environ.get("EGD_BENCH_LOG_SIZE", "1000000"))
G = "gateway.networking.k8s.io"


def gateway_events(now: datetime) -> list[Event]:
    gateway_class = {
        "apiVersion": f"{G}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "eg"},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
    }
    gateway = {
        "apiVersion": f"{G}/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "default"},
        "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]},
    }
    return [
        ResourceApplied(
            key=ResourceKey(group=G, kind="GatewayClass", namespace="", name="eg"),
            object=gateway_class,
            actor="bench",
            occurred_at=now,
        ),
        ResourceApplied(
            key=ResourceKey(group=G, kind="Gateway", namespace="default", name="edge"),
            object=gateway,
            actor="bench",
            occurred_at=now,
        ),
    ]


@pytest.fixture(scope="module")
async def big_log(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = NatsServerProcess(tmp_path_factory.mktemp("replay-at") / "nats")
    await server.start()
    try:
        store = await JetStreamEventStore.connect(server.url)
        try:
            now = datetime.now(UTC)
            started = time.perf_counter()
            await store.append([Append(event=event) for event in gateway_events(now)])
            chunk = 1000
            for start in range(0, LOG_SIZE - 2, chunk):
                events = [route_event(i, now) for i in range(start, min(start + chunk, LOG_SIZE - 2))]
                await store.append([Append(event=event) for event in events])
            assert await store.last_seq() == LOG_SIZE
            print(f"\nlog of {LOG_SIZE:,} events written in {time.perf_counter() - started:.1f}s")
        finally:
            await store.close()
        yield server.url
    finally:
        await server.stop()


def timed_replay_command(url: str, seq: int) -> float:
    """Seconds `egd replay --at SEQ -o ir` takes, as a user runs it."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "egd", "replay", "--at", str(seq), "-o", "ir", "--nats-url", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    assert b'"default/edge"' in result.stdout[:200]
    return elapsed


def test_replay_at_the_middle_from_the_command_line(big_log: str) -> None:
    middle = LOG_SIZE // 2

    def run() -> float:
        return timed_replay_command(big_log, middle)

    report(
        f"egd replay --at {middle:,} -o ir (CLI, {LOG_SIZE:,}-event log)", measure(min(ROUNDS, 3), run), "s", "lower"
    )


def test_replay_at_the_middle_in_process(big_log: str) -> None:
    middle = LOG_SIZE // 2

    def run() -> float:
        started = time.perf_counter()
        pipeline = asyncio.run(fold_log(big_log, Point(seq=middle)))
        elapsed = time.perf_counter() - started
        assert pipeline.state.last_seq == middle
        assert len(pipeline.state.objects) == min(LIVE_OBJECTS, middle - 2) + 2
        assert pipeline.translator.gateways["default/edge"].http
        return elapsed

    samples = measure(min(ROUNDS, 3), run)
    report(f"read + fold + translate to sequence {middle:,} (in process)", samples, "s", "lower")
    report("  as events/s", [middle / s for s in samples], "events/s")


async def write_milestone_snapshots(url: str) -> None:
    """What a daemon following the log while it grew leaves behind: a snapshot past every milestone."""
    store = await JetStreamEventStore.connect(url)
    try:
        snapshots = await JetStreamSnapshots.open(store)
        pipeline = Pipeline()
        async for record in store.read():
            pipeline.fold(record, translate=False)
            if record.seq % MILESTONE_EVENTS == 0:
                await snapshots.save(record.seq, encode_snapshot(pipeline.state, snapshots.log_identity))
    finally:
        await store.close()


def test_replay_at_the_middle_with_snapshots(big_log: str) -> None:
    asyncio.run(write_milestone_snapshots(big_log))
    middle = min(LOG_SIZE, LOG_SIZE // 2 + MILESTONE_EVENTS // 2)  # halfway between two snapshots: the worst case

    def run() -> float:
        return timed_replay_command(big_log, middle)

    report(
        f"egd replay --at {middle:,} -o ir with milestone snapshots (CLI, {LOG_SIZE:,}-event log)",
        measure(min(ROUNDS, 3), run),
        "s",
        "lower",
    )
