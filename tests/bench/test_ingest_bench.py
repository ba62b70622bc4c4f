"""Ingest: `egd apply` of 10,000 HTTPRoutes from one file (target >= 30,000 events/s appended and acked)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from egd.commands.apply import apply_resources, make_audit
from egd.documents import decode_documents, read_documents
from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore
from projections.changeset import plan_apply
from tests.bench.conftest import ROUNDS, report
from tests.egd.daemon import egd

ROUTES = 10_000


def routes_file(path: Path, generation: int) -> Path:
    documents = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": f"route-{i}", "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": "edge"}],
                "hostnames": [f"r{i}.example.com"],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": f"/v{generation}/{i}"}}],
                        "backendRefs": [{"name": "web", "port": 80}],
                    }
                ],
            },
        }
        for i in range(ROUTES)
    ]
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        yield server


async def test_append_rate_of_an_apply(nats: NatsServerProcess, tmp_path: Path) -> None:
    """The log's part: 10,000 planned events appended (atomic chunks), each acknowledged by JetStream."""
    resources = [
        (r.key, r.document) for r in decode_documents(read_documents(str(routes_file(tmp_path / "r.yaml", 0))))
    ]

    async def one_round(generation: int) -> float:
        store = await JetStreamEventStore.connect(nats.url)
        try:
            bumped = [
                (key, {**doc, "spec": {**doc["spec"], "hostnames": [f"g{generation}.{key.name}"]}})
                for key, doc in resources
            ]
            current = {}  # every round writes new objects: a fresh namespace of names per round
            renamed = [
                (
                    key.__replace__(name=f"{key.name}-{generation}"),
                    {**doc, "metadata": {**doc["metadata"], "name": f"{key.name}-{generation}"}},
                )
                for key, doc in bumped
            ]
            plan = plan_apply(renamed, current, make_audit("bench", "", "apply"))
            appends = [change.append for change in plan if change.append is not None]
            started = time.perf_counter()
            appended = await store.append(appends)
            elapsed = time.perf_counter() - started
            assert len(appended) == ROUTES
            return ROUTES / elapsed
        finally:
            await store.close()

    report(
        "append 10,000 events (atomic chunks, acked)",
        [await one_round(generation) for generation in range(ROUNDS)],
        "events/s",
    )


async def test_apply_command_wall_time(nats: NatsServerProcess, tmp_path: Path) -> None:
    """The whole command as users run it: read + validate YAML, read current state, plan, append."""
    samples = []
    parse = []
    for generation in range(ROUNDS):
        path = routes_file(tmp_path / f"routes-{generation}.yaml", generation)
        started = time.perf_counter()
        result = egd("apply", "-f", str(path), "--nats-url", nats.url, timeout=300)
        samples.append(time.perf_counter() - started)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count(" configured" if generation else " created") == ROUTES
        started = time.perf_counter()
        decode_documents(read_documents(str(path)))
        parse.append(time.perf_counter() - started)
    report("egd apply -f (10,000 HTTPRoutes, YAML) wall time", samples, "s", better="lower")
    report("  of which reading + validating the YAML file", parse, "s", better="lower")


async def test_apply_resources_in_process(nats: NatsServerProcess, tmp_path: Path) -> None:
    """apply without process start-up and YAML parsing: read current state, plan, append."""
    resources = [
        (r.key, r.document) for r in decode_documents(read_documents(str(routes_file(tmp_path / "r.yaml", 0))))
    ]
    samples = []
    for generation in range(ROUNDS):
        changed = [
            (key, {**doc, "spec": {**doc["spec"], "hostnames": [f"g{generation}.{key.name}"]}})
            for key, doc in resources
        ]
        started = time.perf_counter()
        plan = await apply_resources(nats.url, changed, make_audit("bench", "", "apply"))
        samples.append(ROUTES / (time.perf_counter() - started))
        assert sum(1 for change in plan if change.append is not None) == ROUTES
    report("apply 10,000 changed objects in process (read current + plan + append)", samples, "events/s")
