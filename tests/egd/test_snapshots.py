"""Snapshots in `egd serve`: written as the log grows, loaded on restart, a corrupt one passed over."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from egd.metrics import Metrics
from egd.natsserver import NatsServerProcess
from egd.snapshotter import SnapshotPolicy, Snapshotter
from events.jetstream import JetStreamEventStore
from events.jetstream.snapshots import JetStreamSnapshots
from projections.state import ResourceState
from tests.egd.daemon import Daemon, egd

SITE = Path(__file__).resolve().parents[1] / "testdata" / "apply" / "site.yaml"


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        yield server


def wait_for_log(daemon: Daemon, event: str, seq: int, within: float = 10.0) -> None:
    """Until the daemon logs `event` for sequence `seq` (its logs are JSON lines off a terminal)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in daemon.log().splitlines():
            if line.startswith("{") and (entry := json.loads(line)).get("event") == event and entry.get("seq") == seq:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} at seq {seq} in the daemon's log:\n{daemon.log()}")


async def test_restart_loads_the_newest_valid_snapshot_and_passes_over_a_corrupt_one(
    nats: NatsServerProcess, tmp_path: Path
) -> None:
    flags = ("--nats-url", nats.url, "--snapshot-every-events", "1", "--snapshot-every-seconds", "0.1")
    daemon = Daemon(tmp_path / "egd", *flags)
    daemon.start()
    try:
        assert egd("apply", "-f", str(SITE), "--nats-url", nats.url).returncode == 0
        assert egd("delete", "gateway", "edge", "--nats-url", nats.url).returncode == 0
        wait_for_log(daemon, "snapshot written", 4)
        before = json.loads(egd("get", "httproute", "-A", "-o", "json", "--data-dir", str(daemon.data_dir)).stdout)
    finally:
        assert daemon.stop() == 0, daemon.log()

    store = await JetStreamEventStore.connect(nats.url)
    try:
        snapshots = await JetStreamSnapshots.open(store)
        kept = [seq async for seq, _ in snapshots.newest_first()]
        assert kept[0] == 4
        assert len(kept) >= 2
        await snapshots.save(4, b"\x00not a snapshot")
    finally:
        await store.close()

    restarted = Daemon(tmp_path / "egd2", *flags)
    restarted.start()
    try:
        log = restarted.log()
        assert '"event": "snapshot ignored"' in log
        assert '"event": "snapshot loaded"' in log
        loaded = next(json.loads(line) for line in log.splitlines() if '"snapshot loaded"' in line)
        assert loaded["seq"] < 4
        after = json.loads(egd("get", "httproute", "-A", "-o", "json", "--data-dir", str(restarted.data_dir)).stdout)
        assert [i["metadata"] for i in after["items"]] == [i["metadata"] for i in before["items"]]
        assert egd("get", "gateway", "edge", "--data-dir", str(restarted.data_dir)).returncode == 1
    finally:
        assert restarted.stop() == 0, restarted.log()


async def test_a_snapshot_nats_cannot_take_is_logged_and_the_daemon_goes_on(nats: NatsServerProcess) -> None:
    store = await JetStreamEventStore.connect(nats.url, request_timeout=1.0)
    try:
        snapshots = await JetStreamSnapshots.open(store)
        state = ResourceState()
        snapshotter = Snapshotter(snapshots, state, SnapshotPolicy(), Metrics())
        state.last_seq = 7  # the fold moved on since the last snapshot
        await nats.stop()
        with capture_logs() as logs:
            await snapshotter.save()  # must not raise: snapshots only shorten restarts
        assert snapshotter.saved_seq == 0
        assert [entry["seq"] for entry in logs if entry["event"] == "snapshot not written"] == [7]
    finally:
        await store.close()


async def test_after_a_restart_from_a_snapshot_of_the_whole_log_reads_are_served_at_once(
    nats: NatsServerProcess, tmp_path: Path
) -> None:
    """The snapshot holds the end of the log: nothing is left to replay, and `egd get` and `egd bootstrap` (which
    wait until the daemon has folded the log's last sequence) answer at once. They timed out until the next event
    arrived: the sequence the daemon had folded was only announced as records were replayed."""
    flags = ("--nats-url", nats.url, "--snapshot-every-events", "1", "--snapshot-every-seconds", "0.1")
    daemon = Daemon(tmp_path / "egd", *flags)
    daemon.start()
    try:
        assert egd("apply", "-f", str(SITE), "--nats-url", nats.url).returncode == 0
        history = egd("history", "--nats-url", nats.url, "-o", "json").stdout.splitlines()
        last = max(json.loads(line)["seq"] for line in history)
        wait_for_log(daemon, "snapshot written", last)
    finally:
        assert daemon.stop() == 0, daemon.log()

    restarted = Daemon(tmp_path / "egd", *flags)
    restarted.start()
    try:
        loaded = next(json.loads(line) for line in restarted.log().splitlines() if '"snapshot loaded"' in line)
        assert loaded["seq"] == last
        started = time.monotonic()
        got = egd("get", "httproute", "-A", "--data-dir", str(restarted.data_dir))
        assert got.returncode == 0, got.stderr
        bootstrap = egd("bootstrap", "--gateway", "default/edge", "--data-dir", str(restarted.data_dir))
        assert bootstrap.returncode == 0, bootstrap.stderr
        assert "warning" not in bootstrap.stderr.lower()
        assert time.monotonic() - started < 5
    finally:
        assert restarted.stop() == 0, restarted.log()
