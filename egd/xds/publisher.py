"""The xDS publisher: turns the Gateways whose IR changed into resource sets on the bus.

Changes are marked as the follower translates them and built when the publisher next runs, so a burst of
events costs one build per Gateway, not one per event (the follower drains what NATS has delivered before
the loop lets the publisher run). Each resource set published is recorded in `history` with what changed, so
that delta streams evaluate only that (`projections.xds.history`).
"""

from __future__ import annotations

import time

import structlog

from egd.bus import LatestValues
from egd.changed_gateways import ChangedGateways
from egd.metrics import Metrics
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline
from projections.xds.history import ResourceHistory
from projections.xds.resources import ResourceSet
from projections.xds.translate.fleet import XdsBuildError, XdsFleet
from projections.xds.translate.ratelimits import XdsSettings

log = structlog.get_logger("egd.xds.publisher")


class XdsPublisher:
    def __init__(
        self, bus: LatestValues[str, ResourceSet], metrics: Metrics, settings: XdsSettings | None = None
    ) -> None:
        self.bus = bus
        self.metrics = metrics
        self.fleet = XdsFleet(settings)
        self.changed = ChangedGateways()
        self.history = ResourceHistory()
        """What changed between the sets published per Gateway, for the xDS servicer's delta streams."""
        self.published_seq: dict[str, int] = {}
        """Gateway -> the log sequence its resources now on the bus reflect (for the delivery audit)."""

    def mark(self, changes: Changes) -> None:
        self.changed.mark(changes)

    def pending(self) -> bool:
        return self.changed.pending()

    async def run(self, pipeline: Pipeline) -> None:
        while True:
            self.publish(pipeline, await self.changed.take())

    def publish(self, pipeline: Pipeline, dirty: list[str]) -> None:
        for name in dirty:
            started = time.perf_counter()
            gateway = pipeline.translator.gateway(name)
            try:
                update = self.fleet.apply(gateway) if gateway is not None else self.fleet.remove(name)
            except XdsBuildError as failed:
                # one Gateway's defect must not stop the others (nor the daemon, on every restart after it)
                self.bus.withhold(name)  # never read as "nothing": its Envoys keep what they have
                self.metrics.xds_build_failures.labels(gateway=name).inc()
                log.error(
                    "xds build failed: the Gateway's Envoys keep their last configuration",
                    gateway=name,
                    seq=pipeline.translated_seq,
                    error=str(failed),
                    exc_info=failed,
                )
                continue
            self.history.record(name, update.resources, update.delta_changes)
            self.bus.publish(name, update.resources)
            self.published_seq[name] = pipeline.translated_seq
            self.metrics.xds_build_seconds.observe(time.perf_counter() - started)
            for policy, problem in update.patch_outcomes.items():
                if problem is not None:
                    log.warning("EnvoyPatchPolicy not applied", gateway=name, policy=policy, problem=problem)
            log.info(
                "xds published",
                gateway=name,
                removed_gateway=gateway is None,
                updated={t.rsplit(".", 1)[-1]: len(c.updated) for t, c in update.changes.items() if c.updated},
                removed={t.rsplit(".", 1)[-1]: len(c.removed) for t, c in update.changes.items() if c.removed},
                delta_updated={
                    t.rsplit(".", 1)[-1]: len(c.updated) for t, c in update.delta_changes.items() if c.updated
                },
            )
