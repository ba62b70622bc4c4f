"""Fuzzing what comes in from outside: documents given to `egd apply`, and bytes that any NATS client can
publish on the event subjects. Nothing crashes, no valid event is lost, every bad one is reported."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egd.documents import SourcedDocument, decode_documents, parse_documents
from egd.natsserver import NatsServerProcess
from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied
from projections.errors import InvalidDocumentError
from projections.pipeline import Pipeline
from tests.egd.daemon import Daemon
from tests.egd.failures.scenario import admin_json, eventually, service, service_names

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(["Service", "HTTPRoute", "Gateway", "GatewayClass", "EndpointSlice", "Backend", "Nope", ""])
API_VERSIONS = st.sampled_from(["v1", "gateway.networking.k8s.io/v1", "discovery.k8s.io/v1", "x/y", ""])
DOCUMENTS = st.fixed_dictionaries(
    {"apiVersion": API_VERSIONS, "kind": KINDS},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"name": st.text(max_size=70), "namespace": JSON_VALUES})
        | JSON_VALUES,
        "spec": JSON_VALUES,
        "status": JSON_VALUES,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DOCUMENTS, min_size=1, max_size=4))
def test_apply_decoding_accepts_or_names_the_problem(documents: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(documents)
    problem = ""
    try:
        decoded = decode_documents(parse_documents(text, "fuzz.yaml"))
    except InvalidDocumentError as error:
        problem = str(error) or "(no message)"
        decoded = []
    assert "fuzz.yaml" in problem or len(decoded) == len(documents), problem


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_apply_parsing_of_any_text_accepts_or_names_the_problem(text: str) -> None:
    for path in ("fuzz.yaml", "fuzz.json"):
        problem = ""
        try:
            sourced = parse_documents(text, path)
        except InvalidDocumentError as error:
            problem, sourced = str(error), []
        assert path in problem or all(isinstance(document, SourcedDocument) for document in sourced)


def valid_record(seq: int, name: str) -> LogRecord:
    key, document = service(name)
    event = ResourceApplied(key=key, object=document, actor="fuzz", occurred_at=datetime.now(UTC))
    return LogRecord(seq=seq, subject=subject_for(key), stored_at=datetime.now(UTC), data=encode_event(event))


SUBJECT_TOKENS = st.text(alphabet="abcXYZ_-09.", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(SUBJECT_TOKENS, st.binary(max_size=300))), max_size=30))
def test_the_fold_quarantines_every_bad_record_and_keeps_every_valid_one(
    records: list[tuple[str, bytes] | None],
) -> None:
    pipeline = Pipeline()
    valid: set[str] = set()
    bad = 0
    for seq, record in enumerate(records, start=1):
        if record is None:
            name = f"svc-{seq}"
            step = pipeline.fold(valid_record(seq, name))
            valid.add(name)
            assert step.state is not None
            continue
        tail, data = record
        raw = LogRecord(seq=seq, subject=f"egd.v1.res.{tail}", stored_at=datetime.now(UTC), data=data)
        assert pipeline.fold(raw).state is None
        bad += 1
    assert {key.name for key in pipeline.state.objects} == valid
    assert pipeline.state.quarantine_count == bad


def bad_payloads(rng: random.Random) -> list[tuple[str, bytes]]:
    """(subject, bytes) that are not valid events: random bytes, broken JSON, JSON of the wrong shape, and a
    valid event on a subject that names another resource."""
    key, document = service("elsewhere")
    event = encode_event(ResourceApplied(key=key, object=document, actor="fuzz", occurred_at=datetime.now(UTC)))
    other = subject_for(ResourceKey(group="", kind="Service", namespace="default", name="not-elsewhere"))
    payloads = [
        (f"egd.v1.res.Service.default.junk-{i}", bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200))))
        for i in range(20)
    ]
    payloads += [
        ("egd.v1.res.Service.default.half", event[: len(event) // 2]),
        ("egd.v1.res.Service.default.list", b"[1, 2, 3]"),
        ("egd.v1.res.Service.default.shape", json.dumps({"type": "ResourceApplied", "key": 7}).encode()),
        ("egd.v1.res.Service.default.empty", b""),
        ("egd.v1.res.x", event),
        (other, event),
    ]
    return payloads


async def test_raw_bytes_on_event_subjects_are_quarantined_and_reported(tmp_path: Path) -> None:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    daemon = Daemon(tmp_path / "egd", "--nats-url", server.url)
    try:
        await asyncio.to_thread(daemon.start)
        bad = bad_payloads(random.Random(7))
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            valid = []
            for i, (subject, payload) in enumerate(bad):
                await js.publish(subject, payload)
                key, document = service(f"good-{i}")
                event = ResourceApplied(key=key, object=document, actor="fuzz", occurred_at=datetime.now(UTC))
                await js.publish(subject_for(key), encode_event(event))
                valid.append(f"good-{i}")
        finally:
            await nc.close()

        async def folded_all() -> bool:
            return set(valid) <= await service_names(daemon)

        await eventually(folded_all, within=15, what="every valid event folded")
        assert await service_names(daemon) == set(valid)
        quarantine = await admin_json(daemon, "/api/v1/quarantine")
        assert quarantine["count"] == len(bad)
        assert {entry["subject"] for entry in quarantine["recent"]} <= {subject for subject, _ in bad}
        metrics = await asyncio.to_thread(daemon.http_get, "/metrics")
        assert f"egd_events_quarantined_total {float(len(bad))}" in metrics
        assert await asyncio.to_thread(daemon.http_status, "/readyz") == 200
    finally:
        stopped = await asyncio.to_thread(daemon.stop) if daemon.process is not None else 0
        await server.stop()
    assert stopped == 0, daemon.log()
