"""A real RateLimitService on a free loopback port and a real grpcio client; real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
import pytest
import redis.asyncio as redis_asyncio
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

from egd.ratelimit.server import start_ratelimit_server
from egd.ratelimit.service import RateLimitService
from projections.ratelimit.config import from_yaml

REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = 1_700_000_123.0  # fixed, so that no test straddles a window boundary


def fixed_clock() -> float:
    return NOW


def request(domain: str, *descriptors: Sequence[tuple[str, str]], hits: int = 0) -> rls_pb2.RateLimitRequest:
    return rls_pb2.RateLimitRequest(
        domain=domain,
        hits_addend=hits,
        descriptors=[
            ratelimit_pb2.RateLimitDescriptor(
                entries=[ratelimit_pb2.RateLimitDescriptor.Entry(key=k, value=v) for k, v in entries]
            )
            for entries in descriptors
        ],
    )


def load(service: RateLimitService, *documents: str) -> None:
    service.set_configs(from_yaml(text, f"c{i}") for i, text in enumerate(documents))


class Running:
    def __init__(self, service: RateLimitService, server: grpc.aio.Server, port: int) -> None:
        self.service = service
        self.server = server
        self.port = port
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = rls_pb2_grpc.RateLimitServiceStub(self.channel)

    async def ask(self, message: rls_pb2.RateLimitRequest) -> rls_pb2.RateLimitResponse:
        response: rls_pb2.RateLimitResponse = await self.stub.ShouldRateLimit(message, timeout=5)
        return response

    async def close(self) -> None:
        await self.channel.close()
        await self.server.stop(None)
        await self.service.counters.close()


@pytest.fixture
async def start() -> AsyncIterator[Callable[[RateLimitService], object]]:
    running: list[Running] = []

    async def _start(service: RateLimitService) -> Running:
        server, port = await start_ratelimit_server(service, "127.0.0.1:0")
        instance = Running(service, server, port)
        running.append(instance)
        return instance

    yield _start
    for instance in running:
        await instance.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards. Fails if Redis does not answer."""
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.fail(f"Redis does not answer at {REDIS_URL} (run `bash scripts/ensure-redis`): {exc}")
    prefix = f"egdtest:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
