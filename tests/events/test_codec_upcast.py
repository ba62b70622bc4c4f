"""Schema evolution: events of older schema versions still decode (upcast), and the frozen corpus of old
events under tests/testdata/events/ keeps replaying to the same state."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from events.codec import decode_event, encode_event
from events.errors import EventDecodeError
from events.keys import ResourceKey
from events.schema import SCHEMA_VERSION, LogRecord, ResourceApplied, ResourceDeleted
from projections.history import HistoryFilter, history
from projections.replay import Point, fold_until, state_documents

CORPUS = Path(__file__).resolve().parents[1] / "testdata" / "events"
UPDATE = os.environ.get("EGD_UPDATE_GOLDENS") == "1"


def corpus_records() -> list[LogRecord]:
    records = []
    for line in (CORPUS / "corpus.jsonl").read_text().splitlines():
        raw = json.loads(line)
        stored_at = datetime.fromisoformat(raw["stored_at"].replace("Z", "+00:00"))
        records.append(
            LogRecord(seq=raw["seq"], subject=raw["subject"], stored_at=stored_at, data=raw["data"].encode())
        )
    return records


def test_the_corpus_holds_every_older_schema_version() -> None:
    versions = {json.loads(record.data)["schema_version"] for record in corpus_records()}
    assert versions == set(range(SCHEMA_VERSION + 1))


def test_the_frozen_corpus_replays_to_the_recorded_state() -> None:
    records = corpus_records()
    pipeline = fold_until(records, Point(seq=records[-1].seq))
    assert pipeline.state.quarantine_count == 0, list(pipeline.state.quarantined)
    replayed = msgspec.json.decode(
        msgspec.json.encode(
            {
                "history": [
                    f"{e.seq} {e.actor} {e.change} {e.resource} {','.join(e.gateways)}"
                    for e in history(records, HistoryFilter())
                ],
                "objects": state_documents(pipeline),
                "gateways": sorted(pipeline.translator.gateways),
            }
        )
    )
    golden = CORPUS / "corpus.state.yaml"
    if UPDATE:
        golden.write_text(yaml.safe_dump(replayed, sort_keys=False))
    assert replayed == yaml.safe_load(golden.read_text())


def test_a_schema_0_event_upcasts_to_the_schema_1_event() -> None:
    old = {
        "type": "ResourceApplied",
        "schema_version": 0,
        "group": "",
        "kind": "ConfigMap",
        "namespace": "default",
        "name": "a",
        "user": "alice",
        "occurred_at": "2024-01-01T00:00:00Z",
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}},
    }
    event = decode_event(json.dumps(old).encode())
    assert event == ResourceApplied(
        key=ResourceKey(group="", kind="ConfigMap", namespace="default", name="a"),
        actor="alice",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        object=old["object"],
    )
    assert event.schema_version == SCHEMA_VERSION


names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)


@given(kind=st.sampled_from(["ConfigMap", "HTTPRoute"]), namespace=st.one_of(st.just(""), names), name=names)
def test_every_schema_0_deletion_upcasts_to_its_schema_1_form(kind: str, namespace: str, name: str) -> None:
    key = ResourceKey(group="g", kind=kind, namespace=namespace, name=name)
    current = ResourceDeleted(key=key, actor="bob", reason="r", occurred_at=datetime(2024, 1, 1, tzinfo=UTC))
    as_v0 = {k: v for k, v in msgspec.to_builtins(current).items() if k not in ("key", "actor")}
    as_v0.update(schema_version=0, user="bob", group="g", kind=kind, namespace=namespace, name=name)
    assert decode_event(msgspec.json.encode(as_v0)) == current
    assert decode_event(encode_event(current)) == current


def test_a_newer_schema_version_is_refused_not_guessed() -> None:
    newer = {"type": "ResourceDeleted", "schema_version": SCHEMA_VERSION + 1, "whatever": 1}
    with pytest.raises(EventDecodeError, match="newer than this egd"):
        decode_event(json.dumps(newer).encode())


def test_an_invalid_event_of_the_current_version_says_why() -> None:
    broken = {"type": "ResourceDeleted", "schema_version": SCHEMA_VERSION, "occurred_at": "2024-01-01T00:00:00Z"}
    with pytest.raises(EventDecodeError, match="missing required field"):
        decode_event(json.dumps(broken).encode())


def test_a_schema_0_event_that_is_invalid_once_upcast_is_refused() -> None:
    broken = {"type": "ResourceDeleted", "schema_version": 0, "kind": "ConfigMap", "name": "a"}
    with pytest.raises(EventDecodeError, match="after upcasting"):
        decode_event(json.dumps(broken).encode())
