"""Counting in the real Redis at 127.0.0.1:6379: rl's keys and TTLs, replicas sharing one limit, outages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
import redis.asyncio as redis_asyncio

from egd.natsserver import pick_free_port
from egd.ratelimit.counters import CounterStoreError, RedisCounters
from egd.ratelimit.service import RateLimitHooks, RateLimitService
from tests.egd.ratelimit.conftest import REDIS_URL, fixed_clock, load, request

CONFIG = """
domain: shared
descriptors:
  - key: user
    rate_limit: {unit: minute, requests_per_unit: 5}
"""
OK = 1
OVER = 2

Start = Callable[[RateLimitService], Any]


def redis_service(prefix: str, url: str = REDIS_URL, **kwargs: Any) -> RateLimitService:
    service = RateLimitService(
        counters=RedisCounters(url, expiration_jitter_max=10), clock=fixed_clock, key_prefix=prefix, **kwargs
    )
    load(service, CONFIG)
    return service


async def test_keys_and_ttls_follow_rl(start: Start, redis_prefix: str) -> None:
    running = await start(redis_service(redis_prefix))
    answer = await running.ask(request("shared", [("user", "alice")], hits=2))
    assert answer.statuses[0].limit_remaining == 3
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}shared_user_alice_1700000100"
    assert await client.get(key) == b"2"
    assert 60 - 1 <= await client.ttl(key) <= 60 + 10
    await client.aclose()


async def test_a_cost_past_64_bits_is_over_the_limit_not_a_redis_error(start: Start, redis_prefix: str) -> None:
    """Envoy's hits_addend is a uint64; Redis counts in signed 64 bits. Such a cost once made INCRBY fail, and the
    service fail open for the whole request."""
    failures: list[tuple[CounterStoreError, bool]] = []
    hooks = RateLimitHooks(store_failed=lambda e, o: failures.append((e, o)))
    running = await start(redis_service(redis_prefix, hooks=hooks))
    costly = request("shared", [("user", "erin")])
    costly.descriptors[0].hits_addend.value = 2**64 - 1  # a descriptor's own cost: a UInt64Value
    for _ in range(3):  # counted again and again, never past what Redis holds
        answer = await running.ask(costly)
        assert answer.overall_code == OVER
    assert failures == []


async def test_two_servers_sharing_redis_enforce_one_limit(start: Start, redis_prefix: str) -> None:
    one = await start(redis_service(redis_prefix))
    two = await start(redis_service(redis_prefix))
    codes = []
    for i in range(7):
        answer = await (one if i % 2 else two).ask(request("shared", [("user", "bob")]))
        codes.append(answer.overall_code)
    assert codes == [OK] * 5 + [OVER] * 2


async def test_redis_outage_fails_open_and_is_counted(start: Start, redis_prefix: str) -> None:
    failures: list[tuple[CounterStoreError, bool]] = []
    down = f"redis://127.0.0.1:{pick_free_port()}/0"
    running = await start(
        redis_service(redis_prefix, down, hooks=RateLimitHooks(store_failed=lambda e, o: failures.append((e, o))))
    )
    for _ in range(7):
        answer = await running.ask(request("shared", [("user", "carol")]))
        assert answer.overall_code == OK
        assert not answer.statuses[0].HasField("current_limit")
    assert len(failures) == 7
    assert all(open_ for _, open_ in failures)
    assert "redis" in str(failures[0][0])


async def test_redis_outage_without_fail_open_is_unavailable(start: Start, redis_prefix: str) -> None:
    down = f"redis://127.0.0.1:{pick_free_port()}/0"
    running = await start(redis_service(redis_prefix, down, fail_open=False))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.ask(request("shared", [("user", "dave")]))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    answer = await running.ask(request("shared", [("nobody", "x")]))  # nothing to count: no Redis call
    assert answer.overall_code == OK
