"""A producer floods the log in bursts with changes to 100 HTTPRoutes while an Envoy is connected: the daemon
coalesces (far fewer xDS responses than events), its memory stays bounded (the same objects change, so the
resident set must not grow with the number of events), and the Envoy ends with the final state.

Shared by the CI test (a small flood) and the benchmark (100,000 events)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec

from egd.commands.apply import make_audit
from egd.natsserver import NatsServerProcess, pick_free_port
from events.jetstream import JetStreamEventStore
from events.keys import ResourceKey
from events.schema import ResourceApplied
from events.store import Append
from tests.egd.daemon import Daemon, egd
from tests.egd.failures.scenario import admin_json, eventually
from tests.egd.serving import (
    gateway_documents,
    route_document,
    service_documents,
    start_backend,
    wait_for_body,
)
from tests.egd.xds.envoy_process import run_envoy

ROUTES = 100
BURST = 1000
ROUTE_GROUP = "gateway.networking.k8s.io"


class FloodResult(msgspec.Struct, kw_only=True):
    events: int
    publish_seconds: float
    fold_seconds: float
    """From the last event acknowledged to the fold at the stream's last sequence."""
    converged_seconds: float
    """From the fold at the last sequence to Envoy serving the final state."""
    rss_start_mib: float
    rss_max_mib: float
    rss_end_mib: float
    xds_responses: int


def flood_route(number: int, generation: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{ROUTE_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"flood-{number}", "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/flood-{number}/{generation}"}}],
                    "backendRefs": [{"name": "alpha", "port": 80}],
                }
            ],
        },
    }


def burst(start: int, size: int) -> list[Append]:
    audit = make_audit("flood", "", "apply")
    appends = []
    for i in range(start, start + size):
        number, generation = i % ROUTES, i // ROUTES
        key = ResourceKey(group=ROUTE_GROUP, kind="HTTPRoute", namespace="default", name=f"flood-{number}")
        event = ResourceApplied(
            key=key,
            object=flood_route(number, generation),
            actor=audit.actor,
            source=audit.source,
            reason=audit.reason,
            correlation_id=audit.correlation_id,
            occurred_at=audit.occurred_at,
        )
        appends.append(Append(event=event))
    return appends


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def xds_responses(metrics: str) -> int:
    return int(
        sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("egd_xds_responses_total{"))
    )


async def run_flood(tmp_path: Path, events: int) -> FloodResult:
    nats = NatsServerProcess(tmp_path / "nats")
    await nats.start()
    runners = [await start_backend(name) for name in ("alpha", "beta")]
    (_, alpha_port), (_, beta_port) = runners
    daemon = Daemon(tmp_path / "egd", "--nats-url", nats.url)
    try:
        await asyncio.to_thread(daemon.start)
        assert daemon.process is not None
        pid = daemon.process.pid
        listener_port = pick_free_port()
        documents = "---".join(
            [
                gateway_documents(listener_port),
                service_documents("alpha", alpha_port),
                service_documents("beta", beta_port),
                route_document("alpha"),
            ]
        )
        cli = ("--nats-url", nats.url, "--data-dir", str(tmp_path / "cli"))
        await asyncio.to_thread(egd, "apply", "-f", "-", *cli, stdin=documents, check=True)
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="edge-1"):
            base = f"http://127.0.0.1:{listener_port}"
            await wait_for_body(f"{base}/shop", "alpha /shop")
            responses_before = xds_responses(await asyncio.to_thread(daemon.http_get, "/metrics"))
            rss_start = rss_mib(pid)
            samples = [rss_start]
            sampling = True

            async def sample() -> None:
                while sampling:
                    samples.append(rss_mib(pid))
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample())
            store = await JetStreamEventStore.connect(nats.url, manage_stream=False)
            started = time.monotonic()
            try:
                for start in range(0, events, BURST):
                    await store.append(burst(start, min(BURST, events - start)))
                    await asyncio.sleep(0.02)  # bursts, not a steady stream
                last_seq = await store.last_seq()
            finally:
                await store.close()
            published = time.monotonic()

            async def caught_up() -> bool:
                return bool((await admin_json(daemon, "/api/v1/sequence"))["folded_seq"] >= last_seq)

            await eventually(caught_up, within=max(60.0, events / 400), what="the fold at the stream's last sequence")
            folded = time.monotonic()
            # The final state: the last generation of a flooded route, and the main route on beta.
            last = events - 1
            number, generation = last % ROUTES, last // ROUTES
            await wait_for_body(f"{base}/flood-{number}/{generation}", "alpha", within=30)
            converged = time.monotonic()
            sampling = False
            await sampler
            await asyncio.to_thread(egd, "apply", "-f", "-", *cli, stdin=route_document("beta"), check=True)
            await wait_for_body(f"{base}/shop", "beta /shop", within=30)
            responses = xds_responses(await asyncio.to_thread(daemon.http_get, "/metrics")) - responses_before
            result = FloodResult(
                events=events,
                publish_seconds=published - started,
                fold_seconds=folded - published,
                converged_seconds=converged - folded,
                rss_start_mib=rss_start,
                rss_max_mib=max(samples),
                rss_end_mib=rss_mib(pid),
                xds_responses=responses,
            )
    finally:
        stopped = await asyncio.to_thread(daemon.stop) if daemon.process is not None else 0
        for runner, _ in runners:
            await runner.cleanup()
        await nats.stop()
    assert stopped == 0, daemon.log()
    return result
