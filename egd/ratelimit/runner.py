"""The rate-limit runner: keeps the descriptor projection current and serves it two ways.

    follower ─mark(changes)─► RateLimitRunner ─► RateLimitProjection (per Gateway domain, pure)
                                   ├─► egd's RateLimitService (set_configs, answers Envoy's ratelimit filter)
                                   └─► bus["default"] = every RateLimitConfig (SotW xDS to envoyproxy/ratelimit)

envoyproxy/ratelimit subscribes with `node.id` = CONFIG_GRPC_XDS_NODE_ID (default "default") and no
`node.cluster`; the xDS server serves a node without a cluster the node group named by its id, so the configs
are published under the node group "default" (a Gateway's node group always contains a `/`, so they never
clash). Every response for that type carries every domain (the servicer treats the type as full-state), and
an empty set is published at start so that rl gets its first response even with no configuration.
"""

from __future__ import annotations

import time

import grpc
import structlog

from egd.bus import LatestValues
from egd.changed_gateways import ChangedGateways
from egd.metrics import Metrics
from egd.ratelimit.counters import CounterStore, CounterStoreError, MemoryCounters, RedisCounters
from egd.ratelimit.server import start_ratelimit_server
from egd.ratelimit.service import RateLimitHooks, RateLimitService
from egd.tls import ServerTls
from projections.gatewayapi.translator import Changes
from projections.pipeline import Pipeline
from projections.ratelimit.config import RateLimitConfig, to_proto
from projections.ratelimit.decision import Decision
from projections.ratelimit.descriptors import RateLimitProjection
from projections.xds.resources import RATE_LIMIT_CONFIG, ResourceSet, versioned

log = structlog.get_logger("egd.ratelimit.runner")

RATELIMIT_NODE_GROUP = "default"
"""The node group envoyproxy/ratelimit's default CONFIG_GRPC_XDS_NODE_ID asks for."""


def config_resources(configs: dict[str, RateLimitConfig]) -> ResourceSet:
    """Every config as one SotW resource set of the RateLimitConfig type."""
    resources = {config.name: versioned(to_proto(config)) for config in configs.values()}
    return ResourceSet(by_type={RATE_LIMIT_CONFIG: resources} if resources else {})


def _hooks(metrics: Metrics) -> RateLimitHooks:
    def decided(domain: str, decision: Decision) -> None:
        metrics.ratelimit_decisions.labels(code=decision.overall_code.name).inc()

    def store_failed(error: CounterStoreError, answered_ok: bool) -> None:
        metrics.ratelimit_store_failures.inc()

    return RateLimitHooks(request_decided=decided, store_failed=store_failed)


class RateLimitRunner:
    def __init__(
        self,
        bus: LatestValues[str, ResourceSet],
        metrics: Metrics,
        *,
        redis_url: str | None = None,
        key_prefix: str = "",
        node_group: str = RATELIMIT_NODE_GROUP,
    ) -> None:
        self.bus = bus
        self.metrics = metrics
        self.node_group = node_group
        self.projection = RateLimitProjection()
        counters: CounterStore = RedisCounters(redis_url) if redis_url else MemoryCounters()
        self.service = RateLimitService(counters=counters, hooks=_hooks(metrics), key_prefix=key_prefix)
        self.service.set_configs([])
        self._server: grpc.aio.Server | None = None
        self.changed = ChangedGateways()
        # nothing published before the log is translated: a rate-limit service reconnecting to a restarting egd
        # keeps its configuration (it reloads whole from every response) until egd knows it (`LatestValues.settle`)

    async def start_server(self, address: str, *, tls: ServerTls | None = None) -> int:
        """Serve ShouldRateLimit on `address` (`host:port`), over `tls` when given; the port it listens on."""
        self._server, port = await start_ratelimit_server(self.service, address, tls=tls)
        return port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
        await self.service.counters.close()

    def mark(self, changes: Changes) -> None:
        self.changed.mark(changes)

    def pending(self) -> bool:
        return self.changed.pending()

    async def run(self, pipeline: Pipeline) -> None:
        while True:
            self.publish(pipeline, await self.changed.take())

    def publish(self, pipeline: Pipeline, dirty: list[str]) -> None:
        started = time.perf_counter()
        changed = []
        for name in dirty:
            gateway = pipeline.translator.gateway(name)
            if gateway is None:
                if self.projection.remove(name):
                    changed.append(name)
            elif self.projection.apply(gateway):
                changed.append(name)
        if not changed:
            return
        configs = self.projection.configs
        self.service.set_configs(configs.values())
        self.bus.publish(self.node_group, config_resources(configs))
        self.metrics.ratelimit_configs.set(len(configs))
        log.info(
            "ratelimit configs published",
            domains=changed,
            total_domains=len(configs),
            seconds=round(time.perf_counter() - started, 6),
        )
