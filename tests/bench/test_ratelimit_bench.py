"""ShouldRateLimit throughput and latency: 100 concurrent gRPC clients against egd's RateLimitService.

The server runs in its own process (as in production; clients and server would otherwise share one event loop),
counting in memory or in the real Redis at 127.0.0.1:6379. Each round runs for a fixed time; calls/s and p99
latency are reported as medians over rounds.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
import redis
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

from tests.bench.conftest import ROUNDS, report

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 100
SECONDS = float(os.environ.get("EGD_BENCH_RL_SECONDS", "3"))

SERVER = """
import asyncio, sys
from egd.ratelimit.counters import MemoryCounters, RedisCounters
from egd.ratelimit.server import start_ratelimit_server
from egd.ratelimit.service import RateLimitService
from projections.ratelimit.config import from_yaml

CONFIG = '''
domain: bench
descriptors:
  - key: generic_key
    value: per-user
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 1000000}
'''

async def main() -> None:
    url, prefix = sys.argv[1], sys.argv[2]
    counters = RedisCounters(url, timeout=1.0) if url != "memory" else MemoryCounters()
    service = RateLimitService(counters=counters, key_prefix=prefix)
    service.set_configs([from_yaml(CONFIG, "bench")])
    server, port = await start_ratelimit_server(service, "127.0.0.1:0")
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


def request(user: int) -> rls_pb2.RateLimitRequest:
    entries = [
        ratelimit_pb2.RateLimitDescriptor.Entry(key="generic_key", value="per-user"),
        ratelimit_pb2.RateLimitDescriptor.Entry(key="user", value=f"u{user}"),
    ]
    return rls_pb2.RateLimitRequest(domain="bench", descriptors=[ratelimit_pb2.RateLimitDescriptor(entries=entries)])


async def one_round(port: int) -> tuple[float, float]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(CLIENTS)]
    latencies: list[float] = []
    calls = 0
    rng = random.Random(1)
    requests = [request(rng.randrange(1000)) for _ in range(1000)]

    async def client(channel: grpc.aio.Channel, deadline: float) -> None:
        nonlocal calls
        stub = rls_pb2_grpc.RateLimitServiceStub(channel)
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answer = await stub.ShouldRateLimit(requests[i % len(requests)], timeout=5)
            latencies.append(time.perf_counter() - started)
            assert answer.overall_code == rls_pb2.RateLimitResponse.OK
            calls += 1
            i += 1

    for channel in channels:  # connect first, so that the round measures calls only
        await channel.channel_ready()
    started = time.perf_counter()
    await asyncio.gather(*(client(channel, started + SECONDS) for channel in channels))
    elapsed = time.perf_counter() - started
    for channel in channels:
        await channel.close()
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return calls / elapsed, p99


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_should_rate_limit_throughput(backend: str) -> None:
    prefix = f"egdbench:{uuid.uuid4().hex}:"
    url = "redis://127.0.0.1:6379/0"
    if backend == "redis":
        try:
            redis.Redis.from_url(url).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis does not answer at {url} (run `bash scripts/ensure-redis`): {exc}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, url if backend == "redis" else "memory", prefix],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results = [asyncio.run(one_round(port)) for _ in range(ROUNDS)]
    finally:
        server.terminate()
        server.wait()
        if backend == "redis":
            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
    report(f"ShouldRateLimit {backend}, {CLIENTS} clients", [r[0] for r in results], "calls/s")
    report(f"ShouldRateLimit {backend} p99 latency", [r[1] for r in results], "ms", better="lower")
