"""egd serving real Envoys, measured (DESIGN targets: a new route served by every Envoy p50 <= 30 ms, p99 <= 100 ms
after `egd apply` returns, with 1,000 routes; 0 failed requests while routes churn).

Everything is real: `egd serve` (embedded NATS) in its own process, 10 Envoy 1.40 processes, aiohttp backends.
Each Envoy serves its own Gateway (see tests/bench/envoy_fleet.py) and every route is attached to all 10, so
one route change is translated and built for 10 Gateways; EGD_BENCH_ENVOYS=1 measures a single one.
The apply step calls egd's apply function in this process (what `egd apply` does after reading its files,
without Python's start-up); the command line's own duration is measured apart.
Run: python3 -m pytest tests/bench/test_xds_envoy_bench.py -o addopts="" -s
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import aiohttp
import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from egd.audit.deliveries import FLUSH_INTERVAL_SECONDS, read_deliveries
from egd.audit.records import Delivery
from projections.xds.resources import ROUTE_CONFIGURATION, VIRTUAL_HOST
from tests.bench.conftest import report
from tests.bench.envoy_fleet import (
    Fleet,
    apply_documents,
    delete_routes,
    fleet,
    route,
    rule,
)
from tests.egd.daemon import egd

pytestmark = pytest.mark.timeout(3600)  # the 2,000-event burst takes minutes (see the report)
ENVOYS = int(os.environ.get("EGD_BENCH_ENVOYS", "10"))
ROUTES = int(os.environ.get("EGD_BENCH_ROUTES", "1000"))
SAMPLES = int(os.environ.get("EGD_BENCH_SAMPLES", "30"))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, samples_ms: list[float]) -> None:
    print(
        f"\nBENCH {name}: p50 {percentile(samples_ms, 50):.1f} ms, p90 {percentile(samples_ms, 90):.1f} ms, "
        f"p99 {percentile(samples_ms, 99):.1f} ms, min {min(samples_ms):.1f}, max {max(samples_ms):.1f}, "
        f"stdev {statistics.pstdev(samples_ms):.1f} over {len(samples_ms)} samples"
    )


def histogram_mean_ms(fleet: Fleet, name: str, before: dict[str, float]) -> tuple[float, float]:
    """Mean (ms) and count of a Prometheus histogram's observations since `before`."""
    now = {**fleet.metric(f"{name}_sum"), **{f"count{k}": v for k, v in fleet.metric(f"{name}_count").items()}}
    total = now.get("", 0.0) - before.get("", 0.0)
    count = now.get("count", 0.0) - before.get("count", 0.0)
    return (total / count * 1000 if count else 0.0), count


def histogram_state(fleet: Fleet, name: str) -> dict[str, float]:
    return {**fleet.metric(f"{name}_sum"), **{f"count{k}": v for k, v in fleet.metric(f"{name}_count").items()}}


class Sample(NamedTuple):
    started_at: float  # time.time() when the apply began
    returned_at: float  # ... and when it returned
    latencies_ms: list[float]  # to the first 200 through each Envoy, in `Fleet.gateways` order


async def where_the_time_goes(fleet: Fleet, samples: list[Sample]) -> None:
    """Split each propagation with the delivery audit's records: `egd apply` returns → egd sends the
    VirtualHost (egd's share), → the Envoy ACKs it (the Envoy applying it), → first 200 (its workers, polling)."""
    deliveries = await read_deliveries(fleet.nats_url, since=datetime.fromtimestamp(samples[0].started_at - 1, UTC))
    by_gateway: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if delivery.type_url == VIRTUAL_HOST:
            by_gateway.setdefault(delivery.gateway, []).append(delivery)
    egd_ms: list[float] = []
    envoy_ms: list[float] = []
    serving_ms: list[float] = []
    for sample in samples:
        for gateway, latency in zip(fleet.gateways, sample.latencies_ms, strict=True):
            mine = by_gateway[f"default/{gateway}"]
            sent = next(d for d in mine if d.kind == "sent" and d.at.timestamp() >= sample.started_at)
            acked = next(d for d in mine if d.kind == "ack" and d.nonce == sent.nonce)
            egd_ms.append((sent.at.timestamp() - sample.returned_at) * 1000)
            envoy_ms.append((acked.at - sent.at).total_seconds() * 1000)
            serving_ms.append(latency - egd_ms[-1] - envoy_ms[-1])
    summary("  of which `egd apply` returns → VirtualHost sent (egd)", egd_ms)
    summary("  of which sent → ACKed (the Envoy applying it)", envoy_ms)
    summary("  of which ACKed → first 200 (Envoy's worker, the poll)", serving_ms)


@pytest.fixture(scope="module")
async def routed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fleet]:
    async with fleet(tmp_path_factory.mktemp("fleet"), gateways=ENVOYS, routes=ROUTES) as running:
        yield running


async def test_route_propagation_to_every_envoy(routed: Fleet) -> None:
    """`egd apply` of one new route returns → first 200 for that route through each Envoy."""
    fleet = routed
    per_envoy: list[float] = []
    slowest: list[float] = []
    applies: list[float] = []
    translate = histogram_state(fleet, "egd_translate_seconds")
    build = histogram_state(fleet, "egd_xds_build_seconds")
    samples: list[Sample] = []
    envoy_cpu_ms: list[float] = []
    egd_cpu_ms: list[float] = []
    for i in range(SAMPLES):
        document = route(f"new-{i}", fleet.gateways, [rule(f"/new-{i}", {"alpha": 1})])
        envoy_cpu, egd_cpu = fleet.envoy_cpu(), fleet.egd_cpu()
        started, started_at = time.perf_counter(), time.time()
        await apply_documents(fleet.nats_url, [document])
        returned = time.perf_counter()
        firsts = await fleet.everywhere(f"/new-{i}")
        applies.append((returned - started) * 1000)
        latencies = [(first - returned) * 1000 for first in firsts]
        per_envoy += latencies
        slowest.append(max(latencies))
        samples.append(Sample(started_at, started_at + returned - started, latencies))
        await asyncio.sleep(0.2)  # settled before CPU is read (as in test_envoy_floor_bench)
        envoy_cpu_ms.append((fleet.envoy_cpu() - envoy_cpu) * 1000)
        egd_cpu_ms.append((fleet.egd_cpu() - egd_cpu) * 1000)
    summary(f"route propagation, {ROUTES} routes, per Envoy ({ENVOYS} Envoys)", per_envoy)
    summary("route propagation, until the last of the Envoys", slowest)
    summary("apply (in process: connect, read current, append, close)", applies)
    report(f"CPU of all {ENVOYS} Envoys per one-route change (see test_envoy_floor_bench)", envoy_cpu_ms, "ms", "lower")
    report("CPU of egd serve (NATS apart) per one-route change", egd_cpu_ms, "ms", "lower")
    await where_the_time_goes(fleet, samples)
    translate_ms, events = histogram_mean_ms(fleet, "egd_translate_seconds", translate)
    build_ms, builds = histogram_mean_ms(fleet, "egd_xds_build_seconds", build)
    print(
        f"BENCH inside egd: fold+translate {translate_ms:.1f} ms mean over {events:.0f} events; "
        f"xDS build {build_ms:.1f} ms mean per Gateway over {builds:.0f} builds"
    )

    cli: list[float] = []
    for i in range(5):
        document = f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: cli-{i}}}
spec:
  parentRefs: [{", ".join(f"{{name: {g}}}" for g in fleet.gateways)}]
  rules: [{{matches: [{{path: {{type: PathPrefix, value: /cli-{i}}}}}], backendRefs: [{{name: alpha, port: 80}}]}}]
"""
        started = time.perf_counter()
        result = await asyncio.to_thread(
            egd,
            "apply",
            "-f",
            "-",
            "--nats-url",
            fleet.nats_url,
            "--data-dir",
            str(fleet.daemon.data_dir),
            stdin=document,
        )
        cli.append((time.perf_counter() - started) * 1000)
        assert result.returncode == 0, result.stderr
    report("`egd apply` command line, one route (python start-up included)", cli, "ms", "lower")


async def test_no_failed_request_while_routes_churn(routed: Fleet) -> None:
    """A steady request loop through every Envoy while 100 routes are added, changed (rules reordered, backends
    re-weighted, a backend whose cluster is new) and removed."""
    fleet = routed
    names = [f"churn-{i}" for i in range(100)]
    stable = [url for i in (0, ROUTES // 2, ROUTES - 1) for url in fleet.urls(f"/bg-{i}")]
    churned = [url for i in range(0, 100, 7) for path in (f"/churn-{i}/x", f"/churn-{i}") for url in fleet.urls(path)]
    failures: dict[str, list[str]] = {}
    requests: dict[str, int] = {}

    async def loop(phase: str, urls: list[str], stop: asyncio.Event) -> None:
        failed = failures.setdefault(phase, [])
        count = 0
        while not stop.is_set():
            for url in urls:
                try:
                    status = await fleet.status(url)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failed.append(f"{url} {exc!r}")
                    continue
                count += 1
                if status != 200:
                    failed.append(f"{url} {status}")
                if stop.is_set():
                    break
        requests[phase] = count

    def churn_route(name: str, reordered: bool, weights: dict[str, int]) -> dict[str, object]:
        rules = [rule(f"/{name}/x", {"alpha": 1}), rule(f"/{name}", weights)]
        return route(name, fleet.gateways, rules[::-1] if reordered else rules)

    async def phase(label: str, urls: list[str], work: object) -> float:
        stop = asyncio.Event()
        # four loops, each over its share of the URLs (fewer with fewer URLs: an empty loop would never await)
        shares = [urls[n::4] for n in range(4) if urls[n::4]]
        loops = [asyncio.create_task(loop(f"{label}/{n}", share, stop)) for n, share in enumerate(shares)]
        started = time.perf_counter()
        assert asyncio.iscoroutine(work)
        await work
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let the last change land under traffic
        stop.set()
        await asyncio.gather(*loops)
        return elapsed

    async def add() -> None:
        for name in names:
            await apply_documents(fleet.nats_url, [churn_route(name, False, {"alpha": 1, "beta": 1})])
        await asyncio.gather(*(fleet.everywhere(f"/{name}") for name in names[::7]))

    async def change() -> None:
        for name in names:
            await apply_documents(fleet.nats_url, [churn_route(name, True, {"alpha": 1, "beta": 1})])
        for name in names:
            await apply_documents(fleet.nats_url, [churn_route(name, True, {"beta": 3, "gamma": 1})])
        for name in names:
            await apply_documents(fleet.nats_url, [churn_route(name, False, {"alpha": 1, "gamma": 5})])

    async def remove() -> None:
        for name in names:
            await delete_routes(fleet.nats_url, [name])
        await asyncio.gather(*(fleet.everywhere(f"/{name}", status=404) for name in names[::7]))

    timings = {
        "add 100": await phase("add", stable, add()),
        "reorder + re-weight 300": await phase("change", stable + churned, change()),
        "remove 100": await phase("remove", stable, remove()),
    }
    total = sum(requests.values())
    failed = {p: len(f) for p, f in failures.items() if f}
    print(
        f"\nBENCH churn: {total} requests through {ENVOYS} Envoys, {sum(failed.values())} failed {failed}; "
        + ", ".join(f"{k} events in {v:.1f} s" for k, v in timings.items())
    )
    for phase_name, failed_requests in failures.items():
        if failed_requests:
            print(f"  {phase_name}: first failures {failed_requests[:5]}")


async def test_burst_of_2000_events_converges(routed: Fleet) -> None:
    """2,000 events appended at once (one `egd apply` of 2,000 routes), then 2,000 deletions: time from the
    append's return until every Envoy serves (or no longer serves) the first, a middle and the last route."""
    fleet = routed
    count = 2000
    names = [f"burst-{i}" for i in range(count)]
    probes = [names[0], names[count // 2], names[-1]]
    adds: list[float] = []
    removes: list[float] = []
    add_splits: list[BurstSplit] = []
    remove_splits: list[BurstSplit] = []
    for _ in range(3):
        documents = [route(n, fleet.gateways, [rule(f"/{n}", {"beta": 1})]) for n in names]
        started_at = time.time()
        await apply_documents(fleet.nats_url, documents)
        returned, returned_at = time.perf_counter(), time.time()
        arrivals = await asyncio.gather(*(fleet.everywhere(f"/{n}", within=300) for n in probes))
        adds.append((max(max(a) for a in arrivals) - returned) * 1000)
        add_splits.append(await burst_split(fleet, started_at, returned_at, adds[-1]))
        started_at = time.time()
        await delete_routes(fleet.nats_url, names)
        returned, returned_at = time.perf_counter(), time.time()
        arrivals = await asyncio.gather(*(fleet.everywhere(f"/{n}", status=404, within=300) for n in probes))
        removes.append((max(max(a) for a in arrivals) - returned) * 1000)
        remove_splits.append(await burst_split(fleet, started_at, returned_at, removes[-1]))
    report(f"burst: 2,000 route additions → all {ENVOYS} Envoys converged", adds, "ms", "lower")
    report_split(add_splits)
    report(f"burst: 2,000 route deletions → all {ENVOYS} Envoys converged", removes, "ms", "lower")
    report_split(remove_splits)


class BurstSplit(NamedTuple):
    sent_ms: float  # the append returned → egd sent the last Envoy its last VirtualHost update of the burst
    acked_ms: float  # ... → the last Envoy ACKed it
    pushes: int  # VirtualHost updates each Envoy got for the burst (the most of any)


async def burst_split(fleet: Fleet, started_at: float, returned_at: float, converged_ms: float) -> BurstSplit:
    """Where a burst's time went, from the delivery audit: egd's share ends when the last Envoy is sent its last
    VirtualHost update (translation, xDS build, sending), the Envoys' when the last one ACKs it. The burst's
    updates are those sent from the moment its append began."""
    until = returned_at + converged_ms / 1000
    await asyncio.sleep(3 * FLUSH_INTERVAL_SECONDS)  # the daemon writes its audit records in batches
    deliveries = await read_deliveries(fleet.nats_url, since=datetime.fromtimestamp(started_at - 5, UTC))
    sent: dict[str, list[Delivery]] = {}
    acked: dict[tuple[str, str], float] = {}
    for delivery in deliveries:
        if delivery.type_url != VIRTUAL_HOST or delivery.at.timestamp() > until:
            continue
        if delivery.kind == "sent" and delivery.at.timestamp() >= started_at:
            sent.setdefault(delivery.gateway, []).append(delivery)
        elif delivery.kind == "ack":
            acked[(delivery.gateway, delivery.nonce)] = delivery.at.timestamp()
    last_sent = [pushes[-1] for pushes in sent.values()]
    return BurstSplit(
        sent_ms=max((d.at.timestamp() - returned_at) * 1000 for d in last_sent),
        acked_ms=max((acked.get((d.gateway, d.nonce), until) - returned_at) * 1000 for d in last_sent),
        pushes=max(len(pushes) for pushes in sent.values()),
    )


def report_split(splits: list[BurstSplit]) -> None:
    print(
        f"  of which until egd sent the last Envoy its last update: median "
        f"{statistics.median(s.sent_ms for s in splits):,.1f} ms; until it ACKed: median "
        f"{statistics.median(s.acked_ms for s in splits):,.1f} ms; VirtualHost pushes per Envoy: "
        f"{[s.pushes for s in splits]}"
    )


@asynccontextmanager
async def sotw_route_client(xds_port: int, gateway: str, route_configuration: str) -> AsyncIterator[None]:
    """A state-of-the-world ADS client subscribed to one route configuration, ACKing every response (as an
    Envoy on SotW ADS would): what SotW clients are sent for a route change (they cannot do VHDS)."""
    requests: asyncio.Queue[discovery_pb2.DiscoveryRequest] = asyncio.Queue()

    async def outgoing() -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        while True:
            yield await requests.get()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{xds_port}") as channel:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(outgoing())
        node = base_pb2.Node(id="sotw-bench", cluster=gateway)
        requests.put_nowait(
            discovery_pb2.DiscoveryRequest(
                type_url=ROUTE_CONFIGURATION, node=node, resource_names=[route_configuration]
            )
        )

        async def acknowledge() -> None:
            async for response in call:
                requests.put_nowait(
                    discovery_pb2.DiscoveryRequest(
                        type_url=response.type_url,
                        version_info=response.version_info,
                        response_nonce=response.nonce,
                        resource_names=[route_configuration],
                    )
                )

        task = asyncio.create_task(acknowledge())
        try:
            yield
        finally:
            task.cancel()
            call.cancel()


@pytest.mark.parametrize("routes", [100, 10_000])
async def test_bytes_on_the_wire_for_one_route_change(routes: int, tmp_path: Path) -> None:
    """egd_xds_response_bytes for one route's path changing, with `routes` routes on one Gateway: to a real
    Envoy on delta ADS (route configurations over VHDS: the changed virtual host alone) and to a
    state-of-the-world client of the same Gateway (the whole route configuration). The fleet's routes have no
    hostname, so they all share one virtual host (`*`) and both forms send it whole: VHDS cannot split one
    hostname's routes. tests/bench/test_xds_translate_bench.py measures the bytes over other layouts."""
    async with (
        fleet(tmp_path, gateways=1, routes=routes) as single,
        sotw_route_client(
            single.daemon.xds_port,
            f"default/{single.gateways[0]}",
            f"default/{single.gateways[0]}/http/{single.ports[0]}",
        ),
    ):
        sizes: dict[str, list[float]] = {"delta": [], "sotw": []}
        per_type: dict[str, float] = {}
        await asyncio.sleep(0.5)  # the SotW client has its route configuration
        for round_ in range(5):
            before = single.metric("egd_xds_response_bytes_total")
            path = f"/moved-{round_}"
            await apply_documents(single.nats_url, [route("bg-0", single.gateways, [rule(path, {"alpha": 1})])])
            await single.everywhere(path)
            await asyncio.sleep(0.3)  # any response that follows (removals, the SotW client's) is counted too
            after = single.metric("egd_xds_response_bytes_total")
            delta = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
            per_type = delta
            for variant, samples in sizes.items():
                samples.append(sum(v for k, v in delta.items() if f'variant="{variant}"' in k) / 1024)
        report(f"bytes on the wire, one route changed among {routes:,}, delta (VHDS)", sizes["delta"], "KiB", "lower")
        report(
            f"bytes on the wire, one route changed among {routes:,}, state of the world", sizes["sotw"], "KiB", "lower"
        )
        print(f"  by type (last round): {per_type}")
