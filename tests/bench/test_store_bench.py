"""Event store throughput on a real nats-server: append (acknowledged) and raw replay.

Run: python3 -m pytest tests/bench/test_store_bench.py -o addopts="" -s
Prints the median of several runs and the spread; asserts nothing about time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from pathlib import Path
from typing import Any

import nats
import pytest

from egd.natsserver import NatsServerProcess
from events.codec import encode_event, message_id
from events.jetstream import JetStreamEventStore
from events.keys import subject_filter, subject_for
from events.store import Append
from tests.events.sample_events import applied

RUNS = 5
APPEND_BATCH = 10_000
REPLAY_EVENTS = 1_000_000
LIVE_OBJECTS = 10_000


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    process = NatsServerProcess(tmp_path / "nats")
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def batch_of(size: int, tag: str) -> list[Append]:
    return [Append(event=applied(f"cm-{i % LIVE_OBJECTS:05d}", data=f"{tag}-{i}")) for i in range(size)]


async def measure(label: str, unit: str, count: int, run: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    rates = []
    for attempt in range(RUNS):
        started = time.perf_counter()
        await run(attempt)
        rates.append(count / (time.perf_counter() - started))
    print(
        f"\n{label}: median {statistics.median(rates):,.0f} {unit}/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {RUNS} runs)"
    )


async def test_append_10k(server: NatsServerProcess) -> None:
    store = await JetStreamEventStore.connect(server.url)
    batches = [batch_of(APPEND_BATCH, f"append-{run}") for run in range(RUNS)]

    async def append(run: int) -> None:
        appended = await store.append(batches[run])
        assert len(appended) == APPEND_BATCH

    try:
        await measure("append, atomic batches of 1000, acknowledged", "events", APPEND_BATCH, append)
    finally:
        await store.close()


async def test_append_10k_pipelined_for_comparison(server: NatsServerProcess) -> None:
    """The alternative to atomic batches: nats-py publish_async, one ack per event (not all-or-nothing)."""
    store = await JetStreamEventStore.connect(server.url)
    await store.close()
    nc = await nats.connect(server.url)
    js = nc.jetstream(publish_async_max_pending=APPEND_BATCH)
    batches = [batch_of(APPEND_BATCH, f"pipelined-{run}") for run in range(RUNS)]

    async def publish(run: int) -> None:
        futures = []
        for item in batches[run]:
            payload = encode_event(item.event)
            headers = {"Nats-Msg-Id": message_id(payload)}
            futures.append(await js.publish_async(subject_for(item.event.key), payload, headers=headers))
        for future in futures:
            await future

    try:
        await measure("append, pipelined publish_async", "events", APPEND_BATCH, publish)
    finally:
        await nc.close()


async def test_replay_1m(server: NatsServerProcess) -> None:
    store = await JetStreamEventStore.connect(server.url)
    try:
        started = time.perf_counter()
        for offset in range(0, REPLAY_EVENTS, APPEND_BATCH):
            await store.append(batch_of(APPEND_BATCH, f"replay-{offset}"))
        print(f"\nfilled {REPLAY_EVENTS:,} events in {time.perf_counter() - started:.1f}s")

        async def replay(run: int) -> None:
            count = 0
            async with aclosing(store.read()) as records:
                async for _ in records:
                    count += 1
            assert count == REPLAY_EVENTS

        await measure("replay (read from seq 1), raw", "records", REPLAY_EVENTS, replay)

        async def latest(run: int) -> None:
            count = 0
            async with aclosing(store.read_latest_per_subject(subject_filter())) as records:
                async for _ in records:
                    count += 1
            assert count == LIVE_OBJECTS

        await measure(f"latest per subject ({LIVE_OBJECTS:,} of {REPLAY_EVENTS:,})", "records", LIVE_OBJECTS, latest)
    finally:
        await store.close()
