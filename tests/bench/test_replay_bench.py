"""Replay of the log into the state projection (target: >= 50,000 events/s from sequence 1)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied
from projections.state import ResourceState, fold
from tests.bench.conftest import ROUNDS, measure, report

LIVE_OBJECTS = 10_000


def route_document(i: int) -> dict[str, Any]:
    name = f"route-{i % LIVE_OBJECTS}"
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": [f"h{i}.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/p{i}"}}],
                    "backendRefs": [{"name": "web", "port": 80}],
                }
            ],
        },
    }


def route_event(i: int, now: datetime) -> ResourceApplied:
    document = route_document(i)
    key = ResourceKey(
        group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name=document["metadata"]["name"]
    )
    return ResourceApplied(key=key, object=document, actor="bench", occurred_at=now)


def test_fold_only_one_million_records() -> None:
    """The projection's share of replay: decode + fold, no I/O."""
    now = datetime.now(UTC)
    records = []
    for i in range(1_000_000):
        event = route_event(i, now)
        records.append(LogRecord(seq=i + 1, subject=subject_for(event.key), stored_at=now, data=encode_event(event)))

    def run() -> float:
        state = ResourceState()
        started = time.perf_counter()
        for record in records:
            fold(state, record)
        assert len(state.objects) == LIVE_OBJECTS
        return len(records) / (time.perf_counter() - started)

    report("fold 1,000,000 records (decode + fold)", measure(min(ROUNDS, 3), run), "events/s")
