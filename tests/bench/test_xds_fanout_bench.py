"""Fan-out: one change delivered to 1,000 delta ADS streams (DESIGN.md: all delivered <= 300 ms, <= 64 KB/stream).

The server runs alone in a subprocess (so that its memory is its own); 1,000 real grpcio delta streams
(over 10 connections) subscribe by wildcard to Clusters and ACK every response, as Envoy does. Each
round changes one cluster and measures the time from the publish command until the last stream got it.
Run: python3 -m pytest tests/bench/test_xds_fanout_bench.py -o addopts="" -s

`EGD_BENCH_FANOUT_VIRTUAL_HOSTS=10000` serves a Gateway of that many virtual hosts instead (one route each, over
VHDS); the streams subscribe to VirtualHosts by wildcard, as Envoy does, and each round changes one route.
`EGD_BENCH_FANOUT_STREAMS` sets the number of streams (1,000 by default).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from projections.xds.resources import CLUSTER, VIRTUAL_HOST

ROOT = Path(__file__).resolve().parents[2]
STREAMS = int(os.environ.get("EGD_BENCH_FANOUT_STREAMS", "1000"))
VIRTUAL_HOSTS = int(os.environ.get("EGD_BENCH_FANOUT_VIRTUAL_HOSTS", "0"))
TYPE_URL = VIRTUAL_HOST if VIRTUAL_HOSTS else CLUSTER
FIRST_RESPONSES_TIMEOUT = 60 + VIRTUAL_HOSTS * STREAMS / 20_000  # seconds: every stream is sent every resource first
CONNECTIONS = 10
ROUNDS = 9


class Client:
    def __init__(
        self, channel: grpc.aio.Channel, index: int, arrivals: dict[int, float], everyone: asyncio.Event
    ) -> None:
        self.everyone = everyone
        self.call: Any = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).DeltaAggregatedResources()
        self.index = index
        self.arrivals = arrivals
        self.first = asyncio.Event()

    async def run(self) -> None:
        node = base_pb2.Node(id=f"envoy-{self.index}", cluster="bench/gw")
        await self.call.write(discovery_pb2.DeltaDiscoveryRequest(type_url=TYPE_URL, node=node))
        async for response in self.call:
            if self.first.is_set():
                self.arrivals[self.index] = time.perf_counter()
                if len(self.arrivals) == STREAMS:
                    self.everyone.set()
            self.first.set()
            await self.call.write(
                discovery_pb2.DeltaDiscoveryRequest(type_url=response.type_url, response_nonce=response.nonce)
            )


async def command(process: asyncio.subprocess.Process, text: str) -> str:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(f"{text}\n".encode())
    await process.stdin.drain()
    return (await process.stdout.readline()).decode().strip()


async def test_one_change_to_1000_delta_streams() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.xds_fanout_server",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    channels: list[grpc.aio.Channel] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        assert process.stdout is not None
        port = int((await process.stdout.readline()).decode().split()[1])
        rss_before = int((await command(process, "rss")).split()[1])
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(CONNECTIONS)]
        arrivals: dict[int, float] = {}
        everyone = asyncio.Event()
        clients = [Client(channels[i % CONNECTIONS], i, arrivals, everyone) for i in range(STREAMS)]
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await asyncio.wait_for(asyncio.gather(*(c.first.wait() for c in clients)), FIRST_RESPONSES_TIMEOUT)
        await asyncio.sleep(1.0)
        rss_streams = int((await command(process, "rss")).split()[1])

        durations = []
        for round_number in range(1, ROUNDS + 1):
            arrivals.clear()
            everyone.clear()
            started = time.perf_counter()
            await command(process, f"publish {round_number}")
            await asyncio.wait_for(everyone.wait(), 30)
            durations.append(max(arrivals.values()) - started)
            await asyncio.sleep(0.3)
        rss_after = int((await command(process, "rss")).split()[1])

        per_stream = (rss_streams - rss_before) / STREAMS
        layout = f"{VIRTUAL_HOSTS} virtual hosts (VHDS)" if VIRTUAL_HOSTS else "20 clusters (CDS)"
        print(
            f"\nfan-out to {STREAMS} delta streams over {CONNECTIONS} connections, {layout}, {ROUNDS} rounds:"
            f"\n  all delivered: median {statistics.median(durations) * 1000:.0f} ms,"
            f" min {min(durations) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms"
            f"\n  server memory: {per_stream / 1024:.1f} KiB per stream"
            f" (RSS {rss_before / 2**20:.1f} MiB -> {rss_streams / 2**20:.1f} MiB with streams,"
            f" {rss_after / 2**20:.1f} MiB after {ROUNDS} rounds)"
        )
        assert len(durations) == ROUNDS
    finally:
        for task in tasks:
            task.cancel()
        for channel in channels:
            await channel.close()
        if process.returncode is None:
            process.terminate()
            await process.wait()
