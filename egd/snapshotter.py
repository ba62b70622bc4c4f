"""Snapshots of the folded state: loaded on start so that a restart replays only the tail of the log, and
written every N events or T seconds once the daemon has caught up (and once more on shutdown)."""

from __future__ import annotations

import asyncio
import time

import msgspec
import nats.errors
import structlog

from egd.metrics import Metrics
from events.errors import StoreUnavailableError
from events.jetstream.snapshots import JetStreamSnapshots
from projections.snapshot import SnapshotRejectedError, decode_snapshot, encode_snapshot
from projections.state import ResourceState

log = structlog.get_logger("egd.snapshots")


class SnapshotPolicy(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    every_events: int = 10_000
    every_seconds: float = 60.0


async def load_newest_valid(snapshots: JetStreamSnapshots, last_seq: int) -> ResourceState | None:
    """The newest snapshot at or before `last_seq` that decodes, checks out and is of this log; None if none.
    (A snapshot ahead of the log's end is of a log that lost its tail, or of another log: never used.)"""
    started = time.perf_counter()
    async for seq, data in snapshots.newest_first(at_or_before=last_seq):
        fetched = time.perf_counter()
        try:
            state = decode_snapshot(data, snapshots.log_identity)
        except SnapshotRejectedError as exc:
            log.warning("snapshot ignored", seq=seq, reason=str(exc))
            continue
        log.info(
            "snapshot loaded",
            seq=seq,
            objects=len(state.objects),
            bytes=len(data),
            fetch_seconds=round(fetched - started, 3),
            decode_seconds=round(time.perf_counter() - fetched, 3),
        )
        return state
    return None


class Snapshotter:
    def __init__(
        self, snapshots: JetStreamSnapshots, state: ResourceState, policy: SnapshotPolicy, metrics: Metrics
    ) -> None:
        self.snapshots = snapshots
        self.metrics = metrics
        self.state = state
        self.policy = policy
        self.saved_seq = state.last_seq
        self.saved_at = time.monotonic()

    async def run(self, caught_up: asyncio.Event) -> None:
        await caught_up.wait()
        while True:
            await asyncio.sleep(min(1.0, self.policy.every_seconds))
            self.metrics.snapshot_age.set(time.monotonic() - self.saved_at)
            behind = self.state.last_seq - self.saved_seq
            if behind >= self.policy.every_events or (
                behind > 0 and time.monotonic() - self.saved_at >= self.policy.every_seconds
            ):
                await self.save()

    async def save(self) -> None:
        """Write a snapshot if the state moved. A snapshot only shortens restarts: when NATS cannot take it
        (a node lost, a timeout) that is logged and the daemon goes on; the next interval tries again."""
        if not self.policy.enabled or self.state.last_seq == self.saved_seq:
            return
        started = time.perf_counter()
        seq = self.state.last_seq
        data = encode_snapshot(self.state, self.snapshots.log_identity)
        try:
            await self.snapshots.save(seq, data)
        except (nats.errors.Error, TimeoutError, StoreUnavailableError) as exc:
            log.warning("snapshot not written", seq=seq, error=str(exc) or type(exc).__name__)
            return
        self.saved_seq, self.saved_at = seq, time.monotonic()
        self.metrics.snapshot_seq.set(seq)
        log.info(
            "snapshot written",
            seq=seq,
            objects=len(self.state.objects),
            bytes=len(data),
            seconds=round(time.perf_counter() - started, 3),
        )
