"""ShouldRateLimit over real gRPC, counting in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2

from egd.ratelimit.counters import Increment, MemoryCounters
from egd.ratelimit.service import RateLimitHooks, RateLimitService
from projections.errors import RateLimitConfigError
from projections.ratelimit.decision import Decision
from tests.egd.ratelimit.conftest import fixed_clock, load, request

OK = rls_pb2.RateLimitResponse.OK
OVER = rls_pb2.RateLimitResponse.OVER_LIMIT

PER_USER = """
domain: web
descriptors:
  - key: generic_key
    value: per-user
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 3}
  - key: ldap
    rate_limit: {unlimited: true}
"""

Start = Callable[[RateLimitService], Any]


def memory_service(**kwargs: Any) -> RateLimitService:
    return RateLimitService(counters=MemoryCounters(clock=fixed_clock), clock=fixed_clock, **kwargs)


async def test_no_config_is_an_error_and_bad_requests_are_refused(start: Start) -> None:
    running = await start(memory_service())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.ask(request("web", [("user", "a")]))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    load(running.service, PER_USER)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.ask(request("", [("user", "a")]))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.ask(request("web"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_fourth_request_in_the_minute_is_over_limit_per_user(start: Start) -> None:
    decided: list[tuple[str, Decision]] = []
    unknown: list[str] = []
    running = await start(
        memory_service(
            hooks=RateLimitHooks(request_decided=lambda d, x: decided.append((d, x)), domain_unknown=unknown.append)
        )
    )
    load(running.service, PER_USER)
    alice = [("generic_key", "per-user"), ("user", "alice")]
    answers = [await running.ask(request("web", alice)) for _ in range(4)]
    assert [a.overall_code for a in answers] == [OK, OK, OK, OVER]
    assert [a.statuses[0].limit_remaining for a in answers] == [2, 1, 0, 0]
    last = answers[-1].statuses[0]
    assert last.current_limit.requests_per_unit == 3
    assert last.current_limit.unit == rls_pb2.RateLimitResponse.RateLimit.MINUTE
    assert last.duration_until_reset.seconds == 60 - 23
    bob = await running.ask(request("web", [("generic_key", "per-user"), ("user", "bob")]))
    assert bob.overall_code == OK
    assert len(decided) == 5

    unlimited = await running.ask(request("web", [("ldap", "x")], [("nothing", "y")]))
    assert unlimited.overall_code == OK
    assert unlimited.statuses[0].limit_remaining == 2**32 - 1
    assert not unlimited.statuses[0].HasField("current_limit")
    assert unlimited.statuses[1] == rls_pb2.RateLimitResponse.DescriptorStatus(code=OK)

    other = await running.ask(request("elsewhere", alice))
    assert other.overall_code == OK
    assert unknown == ["elsewhere"]


async def test_hits_addend_and_override_over_the_wire(start: Start) -> None:
    running = await start(memory_service())
    load(running.service, PER_USER)
    alice = [("generic_key", "per-user"), ("user", "alice")]
    assert (await running.ask(request("web", alice, hits=3))).statuses[0].limit_remaining == 0
    message = request("web", [("generic_key", "per-user"), ("user", "carol")])
    message.descriptors[0].hits_addend.value = 0  # check without consuming
    message.descriptors[0].limit.CopyFrom(
        ratelimit_pb2.RateLimitDescriptor.RateLimitOverride(requests_per_unit=10, unit=2)
    )
    answer = await running.ask(message)
    assert answer.statuses[0].current_limit.requests_per_unit == 10
    assert answer.statuses[0].limit_remaining == 10


async def test_config_swaps_at_runtime_and_invalid_sets_keep_the_old_one(start: Start) -> None:
    running = await start(memory_service())
    load(running.service, PER_USER)
    alice = [("generic_key", "per-user"), ("user", "alice")]
    for _ in range(3):
        await running.ask(request("web", alice))
    assert (await running.ask(request("web", alice))).overall_code == OVER
    load(running.service, PER_USER.replace("requests_per_unit: 3", "requests_per_unit: 6"))
    answer = await running.ask(request("web", alice))  # the same counter, now against 6
    assert answer.overall_code == OK
    assert answer.statuses[0].limit_remaining == 1
    before = running.service.index
    with pytest.raises(RateLimitConfigError):
        load(running.service, PER_USER, PER_USER)  # duplicate domain
    assert running.service.index is before


async def test_memory_counters_forget_finished_windows() -> None:
    now = [1000.0]
    counters = MemoryCounters(clock=lambda: now[0])
    assert await counters.increment([Increment("a", 1, 60), Increment("b", 2, 1)]) == [1, 2]
    now[0] += 1
    assert await counters.increment([Increment("a", 1, 60)]) == [2]
    assert len(counters) == 1
    now[0] += 59
    assert await counters.increment([Increment("c", 1, 60)]) == [1]
    assert len(counters) == 1
