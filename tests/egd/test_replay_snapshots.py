"""`egd replay` starts from the newest valid snapshot at or before the point, and gives exactly what a fold
from sequence 1 gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from egd.commands.replay import fold_log
from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore
from events.jetstream.snapshots import JetStreamSnapshots
from events.store import Append
from projections.pipeline import Pipeline
from projections.replay import Point, view_of
from projections.snapshot import encode_snapshot
from tests.bench.test_replay_bench import route_event
from tests.bench.test_restart_bench import site_events


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        yield server


async def test_replay_from_a_snapshot_equals_replay_from_the_start(nats: NatsServerProcess) -> None:
    now = datetime.now(UTC)
    events = site_events(now) + [route_event(i, now) for i in range(60)]
    store = await JetStreamEventStore.connect(nats.url)
    try:
        records = []
        await store.append([Append(event=event) for event in events])
        records = [record async for record in store.read()]
        snapshots = await JetStreamSnapshots.open(store)
        for cut in (20, 40):
            pipeline = Pipeline()
            for record in records[:cut]:
                pipeline.fold(record, translate=False)
            await snapshots.save(cut, encode_snapshot(pipeline.state, snapshots.log_identity))
        await snapshots.save(50, b"corrupt")
    finally:
        await store.close()

    # point -> the snapshot replay must start from (50 is corrupt and passed over)
    starts = {10: None, 20: 20, 33: 20, 45: 40, 55: 40, len(records): 40}
    for seq, start in starts.items():
        expected = Pipeline()
        for record in records[:seq]:
            expected.fold(record, translate=False)
        expected.translate_all()
        with capture_logs() as logs:
            replayed = await fold_log(nats.url, Point(seq=seq))
        loaded = [entry["seq"] for entry in logs if entry["event"] == "snapshot loaded"]
        assert loaded == ([] if start is None else [start])
        assert replayed.state.objects == expected.state.objects
        assert view_of(replayed) == view_of(expected)
