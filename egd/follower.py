"""The follower: reads the log from where the state stands, folds every record, and says when it has
caught up with the stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from egd.metrics import Metrics
from egd.sequence_watch import SequenceWatch
from events.store import EventStore
from projections.state import ResourceState, StateChange, fold

log = structlog.get_logger("egd.follower")

ChangeListener = Callable[[StateChange], None]


class Follower:
    def __init__(
        self,
        store: EventStore,
        state: ResourceState,
        metrics: Metrics,
        watch: SequenceWatch,
        listeners: tuple[ChangeListener, ...] = (),
    ) -> None:
        self.store = store
        self.state = state
        self.metrics = metrics
        self.watch = watch
        self.listeners = listeners
        self.caught_up = asyncio.Event()
        self.catch_up_target = 0

    async def run(self) -> None:
        self.catch_up_target = await self.store.last_seq()
        self.metrics.stream_seq.set(self.catch_up_target)
        started = time.perf_counter()
        log.info("catching up", from_seq=self.state.last_seq, to_seq=self.catch_up_target)
        if self.state.last_seq >= self.catch_up_target:
            self._mark_caught_up(started)
        async for record in self.store.follow(after_seq=self.state.last_seq):
            change = fold(self.state, record)
            self.metrics.events_folded.inc()
            self.metrics.folded_seq.set(record.seq)
            if record.seq > self.catch_up_target:
                self.metrics.stream_seq.set(record.seq)
            if change is None:
                self.metrics.events_quarantined.inc()
                bad = self.state.quarantined[-1]
                log.warning("event quarantined", seq=record.seq, subject=record.subject, error=bad.error)
            else:
                if self.caught_up.is_set():
                    log.info(
                        "event folded",
                        seq=record.seq,
                        resource=str(change.key),
                        change=change.verb,
                        actor=change.audit.actor,
                        correlation_id=change.audit.correlation_id,
                    )
                for listener in self.listeners:
                    listener(change)
            self.metrics.objects.set(len(self.state.objects))
            self.watch.advance(record.seq)
            if not self.caught_up.is_set() and record.seq >= self.catch_up_target:
                self._mark_caught_up(started)

    def _mark_caught_up(self, started: float) -> None:
        self.caught_up.set()
        log.info(
            "caught up",
            seq=self.state.last_seq,
            objects=len(self.state.objects),
            quarantined=self.state.quarantine_count,
            seconds=round(time.perf_counter() - started, 3),
        )
