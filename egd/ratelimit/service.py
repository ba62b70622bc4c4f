"""`RateLimitService/ShouldRateLimit`: the servicer only converts messages and talks to the counter store; which
rule applies and what to answer are decided by `projections.ratelimit`.

    service = RateLimitService(counters=MemoryCounters())
    service.set_configs([...])            # or set_index(); the lead feeds it from the projection
    server, port = await start_ratelimit_server(service, "127.0.0.1:0")
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

import grpc
import structlog
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2

from egd.ratelimit.counters import CounterStore, CounterStoreError, Increment, MemoryCounters
from projections.ratelimit.config import RateLimitConfig, Unit
from projections.ratelimit.decision import Code, Decision, decide
from projections.ratelimit.matching import (
    Limited,
    LimitOverride,
    Planned,
    RateLimitIndex,
    RequestDescriptor,
    plan_request,
)

log = structlog.get_logger("egd.ratelimit")


@dataclasses.dataclass(frozen=True)
class RateLimitHooks:
    """Optional callbacks for metrics; each must be cheap and must not raise."""

    # (domain, decision) after every answered request
    request_decided: Callable[[str, Decision], None] | None = None
    # the counter store failed; the argument says whether the request was answered OK (fail open)
    store_failed: Callable[[CounterStoreError, bool], None] | None = None
    # a request for a domain no config defines
    domain_unknown: Callable[[str], None] | None = None


class RateLimitService:
    """Answers from the current RateLimitIndex (swapped atomically by `set_index`/`set_configs`).

    `fail_open` (default): if the counter store fails, answer OK for every descriptor. Otherwise fail the call
    with UNAVAILABLE, so that Envoy's own `failure_mode_deny` decides. `shadow_mode` is rl's global SHADOW_MODE.
    """

    def __init__(
        self,
        *,
        counters: CounterStore | None = None,
        hooks: RateLimitHooks | None = None,
        fail_open: bool = True,
        shadow_mode: bool = False,
        key_prefix: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters: CounterStore = counters if counters is not None else MemoryCounters()
        self.hooks = hooks or RateLimitHooks()
        self.fail_open = fail_open
        self.shadow_mode = shadow_mode
        self.key_prefix = key_prefix
        self._clock = clock
        self._index: RateLimitIndex | None = None

    @property
    def index(self) -> RateLimitIndex | None:
        return self._index

    def set_index(self, index: RateLimitIndex | None) -> None:
        """Serve from `index` from now on; None means no config is loaded (requests then fail)."""
        self._index = index

    def set_configs(self, configs: Iterable[RateLimitConfig], *, merge_domains: bool = False) -> None:
        """Load a complete config set. Raises RateLimitConfigError and keeps the current set if it is invalid."""
        self._index = RateLimitIndex(configs, merge_domains=merge_domains)

    async def ShouldRateLimit(  # noqa: N802 - the gRPC method name
        self, request: rls_pb2.RateLimitRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> rls_pb2.RateLimitResponse:
        index = self._index
        if index is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no rate limit configuration loaded")
        assert index is not None
        if not request.domain:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rate limit domain must not be empty")
        if not request.descriptors:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rate limit descriptor list must not be empty")
        if not index.has_domain(request.domain) and self.hooks.domain_unknown is not None:
            self.hooks.domain_unknown(request.domain)
        now = self._clock()
        planned = plan_request(
            index,
            request.domain,
            [_descriptor(d) for d in request.descriptors],
            now=now,
            request_hits_addend=request.hits_addend,
            prefix=self.key_prefix,
        )
        counters = await self._count(planned, request.domain, context)
        if counters is None:
            return rls_pb2.RateLimitResponse(
                overall_code=rls_pb2.RateLimitResponse.OK,
                statuses=[rls_pb2.RateLimitResponse.DescriptorStatus(code=rls_pb2.RateLimitResponse.OK)] * len(planned),
            )
        decision = decide(planned, counters, now=now, shadow_mode=self.shadow_mode)
        if self.hooks.request_decided is not None:
            self.hooks.request_decided(request.domain, decision)
        return to_response(decision)

    async def _count(
        self, planned: tuple[Planned, ...], domain: str, context: grpc.aio.ServicerContext[object, object]
    ) -> list[int | None] | None:
        limited = [(i, p) for i, p in enumerate(planned) if isinstance(p, Limited)]
        counters: list[int | None] = [None] * len(planned)
        if not limited:
            return counters
        try:
            values = await self.counters.increment([Increment(p.cache_key, p.hits, p.ttl) for _, p in limited])
        except CounterStoreError as exc:
            log.warning("ratelimit_store_failed", domain=domain, error=str(exc), fail_open=self.fail_open)
            if self.hooks.store_failed is not None:
                self.hooks.store_failed(exc, self.fail_open)
            if self.fail_open:
                return None
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"rate limit counters unavailable: {exc}")
            raise  # abort raises; this only tells the type checker
        for (position, _), value in zip(limited, values, strict=True):
            counters[position] = value
        return counters


def _descriptor(message: ratelimit_pb2.RateLimitDescriptor) -> RequestDescriptor:
    override = None
    if message.HasField("limit"):
        override = LimitOverride(requests_per_unit=message.limit.requests_per_unit, unit=_unit(message.limit.unit))
    return RequestDescriptor(
        entries=tuple((entry.key, entry.value) for entry in message.entries),
        limit=override,
        hits_addend=message.hits_addend.value if message.HasField("hits_addend") else None,
    )


def _unit(number: int) -> Unit:
    try:
        return Unit(number)
    except ValueError:
        return Unit.UNKNOWN


_CODES = {
    Code.UNKNOWN: rls_pb2.RateLimitResponse.UNKNOWN,
    Code.OK: rls_pb2.RateLimitResponse.OK,
    Code.OVER_LIMIT: rls_pb2.RateLimitResponse.OVER_LIMIT,
}


def to_response(decision: Decision) -> rls_pb2.RateLimitResponse:
    response = rls_pb2.RateLimitResponse(overall_code=_CODES[decision.overall_code])
    for status in decision.statuses:
        out = response.statuses.add(code=_CODES[status.code], limit_remaining=status.limit_remaining)
        rule = status.current_limit
        if rule is not None:
            out.current_limit.requests_per_unit = rule.requests_per_unit
            out.current_limit.unit = int(rule.unit)  # rl leaves current_limit.name empty; so do we
        if status.duration_until_reset is not None:
            out.duration_until_reset.seconds = status.duration_until_reset
    return response
