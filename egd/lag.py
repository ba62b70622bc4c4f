"""How far the fold is behind the stream: polled once a second, exported as a metric, and part of readiness
(a replica that falls more than `max_lag` events behind, or cannot reach NATS, is not ready)."""

from __future__ import annotations

import asyncio

import structlog

from egd.metrics import Metrics
from events.errors import StoreUnavailableError
from events.store import EventStore
from projections.state import ResourceState

log = structlog.get_logger("egd.lag")

POLL_SECONDS = 1.0


class LagWatch:
    def __init__(self, store: EventStore, state: ResourceState, metrics: Metrics, *, max_lag: int) -> None:
        self.store = store
        self.state = state
        self.metrics = metrics
        self.max_lag = max_lag
        self.stream_seq = 0
        self.reachable = True

    @property
    def lag(self) -> int:
        return max(0, self.stream_seq - self.state.last_seq)

    def within_bounds(self) -> bool:
        return self.reachable and self.lag <= self.max_lag

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(POLL_SECONDS * 2):
                    self.stream_seq = max(self.stream_seq, await self.store.last_seq())
                if not self.reachable:
                    log.info("nats reachable again", stream_seq=self.stream_seq)
                self.reachable = True
            except (StoreUnavailableError, TimeoutError):
                if self.reachable:
                    log.warning("nats unreachable: not ready until it answers again")
                self.reachable = False
            self.metrics.stream_seq.set(self.stream_seq)
            self.metrics.fold_lag.set(self.lag)
            await asyncio.sleep(POLL_SECONDS)
