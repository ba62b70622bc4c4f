"""Where the fixed-window counters live: in this process (default) or in Redis, shared by every replica.

A store adds hits to counters and returns their values after the addition, for a whole request at once. The
counter keys already carry their window start, so a store only has to forget a key once its window is over.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec
import redis.asyncio as redis_asyncio


class Increment(msgspec.Struct, frozen=True):
    key: str
    hits: int
    ttl: int  # seconds the counter must live at least (its window length)


class CounterStore(Protocol):
    async def increment(self, increments: Sequence[Increment]) -> list[int]:
        """The counters after adding each increment's hits, in order. Raises CounterStoreError when unavailable."""
        ...

    async def close(self) -> None: ...


class CounterStoreError(Exception):
    """The store could not answer (Redis down, timed out); the service applies its failure mode."""


class MemoryCounters:
    """Counters in a dict; each key is forgotten `ttl` seconds after it was created (its window is over by then).

    The event loop is single-threaded, so no lock is needed; several egd replicas each count on their own.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._expiries: list[tuple[float, str]] = []

    async def increment(self, increments: Sequence[Increment]) -> list[int]:
        now = self._clock()
        self._expire(now)
        results = []
        for item in increments:
            count = self._counts.get(item.key)
            if count is None:
                count = 0
                heapq.heappush(self._expiries, (now + item.ttl, item.key))
            count += item.hits
            self._counts[item.key] = count
            results.append(count)
        return results

    def _expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, key = heapq.heappop(expiries)
            self._counts.pop(key, None)

    def __len__(self) -> int:
        return len(self._counts)

    async def close(self) -> None:
        self._counts.clear()
        self._expiries.clear()


class RedisCounters:
    """rl's Redis scheme: per counter `INCRBY key hits` then `EXPIRE key ttl + jitter`, all of a request in one
    pipelined round trip (no MULTI). The value after INCRBY decides."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.1,
        expiration_jitter_max: int = 300,
        rng: random.Random | None = None,
    ) -> None:
        self._client = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._timeout = timeout
        self._jitter_max = expiration_jitter_max
        self._rng = rng or random.Random()

    async def increment(self, increments: Sequence[Increment]) -> list[int]:
        if not increments:
            return []
        pipe = self._client.pipeline(transaction=False)
        for item in increments:
            jitter = self._rng.randrange(self._jitter_max) if self._jitter_max > 0 else 0
            pipe.incrby(item.key, item.hits)
            pipe.expire(item.key, item.ttl + jitter)
        try:
            async with asyncio.timeout(self._timeout):
                replies = await pipe.execute()
        except (redis_asyncio.RedisError, OSError, TimeoutError) as exc:
            raise CounterStoreError(f"redis: {exc.__class__.__name__}: {exc}") from exc
        return [int(value) for value in replies[0::2]]

    async def close(self) -> None:
        await self._client.aclose()
