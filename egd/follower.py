"""The follower: reads the log from where the state stands, folds every record through the pipeline, and
says when it has caught up with the stream.

While catching up it folds state only and translates once at the end (a restart's cost does not grow with
translation work per historical event); after that every record is translated as it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from egd.metrics import Metrics
from egd.sequence_watch import SequenceWatch
from events.store import EventStore
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline

log = structlog.get_logger("egd.follower")

TranslationListener = Callable[[Changes], None]

TURN_SECONDS = 0.005
"""The longest the fold keeps the event loop before it lets the other tasks run."""


class Follower:
    def __init__(
        self,
        store: EventStore,
        pipeline: Pipeline,
        metrics: Metrics,
        watch: SequenceWatch,
        on_translated: TranslationListener,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.metrics = metrics
        self.watch = watch
        self.on_translated = on_translated
        self.caught_up = asyncio.Event()
        self.catch_up_target = 0

    async def run(self) -> None:
        state = self.pipeline.state
        self.catch_up_target = await self.store.last_seq()
        started = time.perf_counter()
        log.info("catching up", from_seq=state.last_seq, to_seq=self.catch_up_target)
        if state.last_seq >= self.catch_up_target:
            self._finish_catching_up(started)
        turn_ends = time.perf_counter() + TURN_SECONDS
        async for record in self.store.follow(after_seq=state.last_seq):
            if time.perf_counter() > turn_ends:
                # The feed hands over buffered records without awaiting anything: under a flood the fold would
                # hold the event loop for seconds, and xDS streams, keepalives and /readyz would starve.
                await asyncio.sleep(0)
                turn_ends = time.perf_counter() + TURN_SECONDS
            live = self.caught_up.is_set()
            translate_started = time.perf_counter()
            step = self.pipeline.fold(record, translate=live)
            self.metrics.events_folded.inc()
            self.metrics.folded_seq.set(record.seq)
            if step.state is None:
                self.metrics.events_quarantined.inc()
                log.warning(
                    "event quarantined", seq=record.seq, subject=record.subject, error=state.quarantined[-1].error
                )
            elif live:
                self.metrics.translate_seconds.observe(time.perf_counter() - translate_started)
                change = step.state
                invalid = self.pipeline.invalid.get(change.key)
                log.info(
                    "event folded",
                    seq=record.seq,
                    resource=str(change.key),
                    change=change.verb,
                    actor=change.audit.actor,
                    correlation_id=change.audit.correlation_id,
                    gateways=len(step.translation.gateways) + len(step.translation.gateways_removed),
                    invalid=invalid.error if invalid is not None and invalid.revision == record.seq else None,
                )
                self.on_translated(step.translation)
            self.metrics.objects.set(len(state.objects))
            self.watch.advance(record.seq)
            if not live and record.seq >= self.catch_up_target:
                self._finish_catching_up(started)

    def _finish_catching_up(self, started: float) -> None:
        folded = time.perf_counter()
        changes = self.pipeline.translate_all()
        self.on_translated(changes)
        self.caught_up.set()
        state = self.pipeline.state
        log.info(
            "caught up",
            seq=state.last_seq,
            objects=len(state.objects),
            gateways=len(changes.gateways),
            invalid=len(self.pipeline.invalid),
            quarantined=state.quarantine_count,
            fold_seconds=round(folded - started, 3),
            translate_seconds=round(time.perf_counter() - folded, 3),
        )
