"""The follower: reads the log from where the state stands, folds every record, translates what changed,
and says when it has caught up with the stream.

While catching up it folds state only and translates everything once at the end (a restart's cost does not
grow with translation work per historical event). Live, folding and translating are two steps: every record
is folded as it arrives, and the changes gathered meanwhile are translated as one batch once the fold has been
quiet for `QUIET_SECONDS` (or every `MAX_BATCH_DELAY_SECONDS` while a burst keeps arriving), so a burst of
events costs a few translations, not one per event.
What a burst's batches changed is handed to the stages that build from it (xDS, rate limits) once, when the
burst is over (nothing more arrived while the last batch was translated), or every `MAX_HOLD_SECONDS` while it
goes on: each push makes every Envoy rebuild the route tables it touches, whole, so a push per batch would
cost a fleet several full rebuilds for one burst.
`watch` advances only once a record's changes are translated, so `egd get` never sees a status older than
its own write.
A translation that raises (a defect, or an input it cannot take) does not end the daemon, nor every restart
after it: it is logged and counted, the stages keep what they had (Envoys keep their configuration), and the
next batch translates the whole state again (the failed one may have left caches half updated), until that
works, e.g. once the object that breaks it is deleted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
import structlog

from egd.metrics import Metrics
from egd.sequence_watch import SequenceWatch
from events.store import EventStore
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline
from projections.state import StateChange

log = structlog.get_logger("egd.follower")

TranslationListener = Callable[[Changes], None]

QUIET_SECONDS = 0.001
"""How long the fold must have folded nothing before what it gathered is translated."""
MAX_BATCH_DELAY_SECONDS = 0.1
"""The longest a folded change waits for translation while a burst keeps arriving."""

MAX_HOLD_SECONDS = 1.0
"""The longest translated changes wait for their burst to end before the stages get them."""

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
        max_hold_seconds: float = MAX_HOLD_SECONDS,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.metrics = metrics
        self.watch = watch
        self.on_translated = on_translated
        """Called with each batch's changes, in order, once its burst is over (see the module's docstring)."""
        self.max_hold_seconds = max_hold_seconds
        self.caught_up = asyncio.Event()
        self.catch_up_target = 0
        self._untranslated: list[StateChange] = []
        self._translate = asyncio.Event()
        self._folded = 0  # records folded so far: how `translate_batches` tells that a burst is still arriving
        self._held: list[Changes] = []  # translated, not yet handed to `on_translated`
        self._held_since = 0.0
        self._translation_failed = False  # then the next translation is of the whole state
        self.translated = asyncio.Event()
        """Set once a translation of the whole state worked and its changes reached `on_translated`: at start-up,
        or, when that failed, with the next translation that works."""

    def pending(self) -> bool:
        """Records folded whose changes have not reached `on_translated` yet."""
        return self._translate.is_set() or bool(self._held)

    async def run(self) -> None:
        """Fold the log, forever; live changes are handed to `translate_batches`."""
        state = self.pipeline.state
        self.catch_up_target = await self.store.last_seq()
        started = time.perf_counter()
        log.info("catching up", from_seq=state.last_seq, to_seq=self.catch_up_target)
        if state.last_seq >= self.catch_up_target:
            self._finish_catching_up(started)
        turn_ends = time.perf_counter() + TURN_SECONDS
        folded = 0
        async for record in self.store.follow(after_seq=state.last_seq):
            if time.perf_counter() > turn_ends:
                # The feed hands over buffered records without awaiting anything: under a flood the fold would
                # hold the event loop for seconds, and xDS streams, keepalives and /readyz would starve.
                folded = self._count(folded)
                await asyncio.sleep(0)
                turn_ends = time.perf_counter() + TURN_SECONDS
            live = self.caught_up.is_set()
            change = self.pipeline.fold(record, translate=False).state
            folded += 1
            self._folded += 1
            if change is None:
                self.metrics.events_quarantined.inc()
                log.warning(
                    "event quarantined", seq=record.seq, subject=record.subject, error=state.quarantined[-1].error
                )
            elif live:
                log.info(
                    "event folded",
                    seq=record.seq,
                    resource=str(change.key),
                    change=change.verb,
                    actor=change.audit.actor,
                    correlation_id=change.audit.correlation_id,
                )
                self._untranslated.append(change)
            if live:
                folded = self._count(folded)
                self._translate.set()
            elif record.seq >= self.catch_up_target:
                folded = self._count(folded)
                self._finish_catching_up(started)

    def _count(self, folded: int) -> int:
        """Bring the fold's metrics up to date (once per turn while catching up: they cost more than a fold)."""
        state = self.pipeline.state
        self.metrics.events_folded.inc(folded)
        self.metrics.folded_seq.set(state.last_seq)
        self.metrics.objects.set(len(state.objects))
        return 0

    async def translate_batches(self) -> None:
        """Translate what the folding loop gathered, forever: as soon as it goes quiet (a lone event waits
        about a millisecond), or every `MAX_BATCH_DELAY_SECONDS` while a burst keeps arriving, so that a burst
        is translated and pushed a few times, not once per few records."""
        while True:
            await self._translate.wait()
            first_seen = time.monotonic()
            while True:
                folded_before = self._folded
                await asyncio.sleep(QUIET_SECONDS)
                if self._folded == folded_before or time.monotonic() - first_seen > MAX_BATCH_DELAY_SECONDS:
                    break
            batch, self._untranslated = self._untranslated, []
            seq = self.pipeline.state.last_seq
            self._translate.clear()
            started = time.perf_counter()
            translated = self._translation_of(batch)
            if translated is None:
                self.watch.advance(seq)  # folded; its statuses may be stale
                continue
            changes = translated
            if batch:
                self.metrics.translate_seconds.observe(time.perf_counter() - started)
                invalid = [
                    bad
                    for change in batch
                    if (bad := self.pipeline.invalid.get(change.key)) is not None and bad.revision == change.audit.seq
                ]
                for bad in invalid:
                    log.warning(
                        "object invalid: its last valid version stays in use",
                        seq=bad.revision,
                        resource=str(bad.key),
                        error=bad.error,
                    )
                log.info(
                    "events translated",
                    seq=seq,
                    events=len(batch),
                    gateways=len(changes.gateways),
                    gateways_removed=len(changes.gateways_removed),
                    statuses=len(changes.statuses),
                    seconds=round(time.perf_counter() - started, 4),
                )
            if not self._held:
                self._held_since = time.monotonic()
            self._held.append(changes)
            self.watch.advance(seq)
            if (
                await self._burst_over(time.perf_counter() - started)
                or time.monotonic() - self._held_since >= self.max_hold_seconds
            ):
                self._release()

    async def _burst_over(self, translation_seconds: float) -> bool:
        """Whether nothing arrived since the last batch was cut. A translation holds the event loop: records
        that arrived meanwhile are still unread, so after one longer than the quiet period the fold gets one
        more quiet period to show them."""
        if translation_seconds > QUIET_SECONDS and not self._translate.is_set():
            await asyncio.sleep(QUIET_SECONDS)
        return not self._translate.is_set()

    def _release(self) -> None:
        held, self._held = self._held, []
        for changes in held:
            self.on_translated(changes)
        if held and not self._translation_failed:  # the last one worked: of the whole state, if any had failed
            self.translated.set()

    def _translation_of(self, batch: list[StateChange] | None) -> Changes | None:
        """`batch` translated (None: the whole state); the whole state after a failed translation. None when
        translation raises (see the module's docstring)."""
        try:
            if batch is None:
                changes = self.pipeline.translate_all()
            elif self._translation_failed:
                before = set(self.pipeline.translator.gateways)  # those gone meanwhile are to be removed
                changes = self.pipeline.translate_all()
                gone = tuple(sorted(before - set(changes.gateways)))
                changes = msgspec.structs.replace(changes, gateways_removed=gone)
            else:
                changes = self.pipeline.translate_changes(batch)
        except Exception as exc:  # a defect must not stop the daemon: whatever it is, it is reported
            self._translation_failed = True
            self.metrics.translation_failures.inc()
            log.error(
                "translation failed: Envoys keep their configuration; the next change translates everything again",
                seq=self.pipeline.state.last_seq,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
            )
            return None
        self._translation_failed = False
        return changes

    def _finish_catching_up(self, started: float) -> None:
        """Translate what was folded; from now on reads may be served (also when a snapshot held the whole log
        and nothing was replayed)."""
        folded = time.perf_counter()
        self.watch.advance(self.pipeline.state.last_seq)
        translated = self._translation_of(None)
        changes = translated or Changes()
        self.on_translated(changes)
        if translated is not None:
            self.translated.set()
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
