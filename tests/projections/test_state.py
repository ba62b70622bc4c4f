from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied, ResourceDeleted
from projections.state import ResourceState, as_document, fold, same_spec

T0 = datetime(2026, 11, 26, 14, 2, tzinfo=UTC)
ROUTE = ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name="web")


def route(port: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {}},
        "spec": {"rules": [{"backendRefs": [{"name": "web", "port": port}]}]},
    }


def applied(seq: int, obj: dict[str, Any], key: ResourceKey = ROUTE, actor: str = "alice") -> LogRecord:
    event = ResourceApplied(key=key, object=obj, actor=actor, reason=f"change {seq}", occurred_at=T0)
    return LogRecord(seq=seq, subject=subject_for(key), stored_at=T0 + timedelta(seconds=seq), data=encode_event(event))


def deleted(seq: int, key: ResourceKey = ROUTE) -> LogRecord:
    event = ResourceDeleted(key=key, actor="bob", occurred_at=T0)
    return LogRecord(seq=seq, subject=subject_for(key), stored_at=T0 + timedelta(seconds=seq), data=encode_event(event))


def test_generation_counts_spec_changes_only() -> None:
    state = ResourceState()
    created = fold(state, applied(1, route(80)))
    assert created is not None and created.verb == "created"
    assert state.objects[ROUTE].generation == 1
    fold(state, applied(2, route(80, labels={"team": "a"})))
    assert state.objects[ROUTE].generation == 1, "a label change is not a spec change"
    assert state.objects[ROUTE].revision == 2
    changed = fold(state, applied(3, route(8080)))
    assert changed is not None and changed.verb == "configured"
    stored = state.objects[ROUTE]
    assert (stored.generation, stored.revision, stored.created.seq, stored.last_change.reason) == (2, 3, 1, "change 3")


def test_delete_removes_and_recreate_starts_a_new_object() -> None:
    state = ResourceState()
    fold(state, applied(1, route(80)))
    fold(state, applied(2, route(81)))
    gone = fold(state, deleted(3))
    assert gone is not None and gone.verb == "deleted" and gone.audit.actor == "bob"
    assert ROUTE not in state.objects
    fold(state, applied(4, route(82)))
    assert state.objects[ROUTE].generation == 1
    assert state.objects[ROUTE].created.seq == 4


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (LogRecord(seq=1, subject=subject_for(ROUTE), stored_at=T0, data=b"not json"), "JSON"),
        (LogRecord(seq=1, subject=subject_for(ROUTE), stored_at=T0, data=b'{"type":"Nope"}'), "Nope"),
        (applied(1, route(80)).__replace__(subject="egd.v1.res.HTTPRoute.default.other"), "was published on"),
        (applied(1, {**route(80), "metadata": {"name": "other", "namespace": "default"}}), "metadata.name"),
        (applied(1, {**route(80), "kind": "Gateway"}), "kind"),
        # a subject does not name the group: another group would make a second object of the subject
        (applied(1, route(80), key=ROUTE.__replace__(group="")), "HTTPRoute is of group 'gateway.networking.k8s.io'"),
        (deleted(1, key=ROUTE.__replace__(group="example.com")), "has group 'example.com'"),
        (applied(1, {**route(80), "apiVersion": "example.com/v1"}), "apiVersion 'example.com/v1' does not match"),
        (applied(1, {**route(80), "apiVersion": "v1"}), "apiVersion 'v1' does not match"),
    ],
)
def test_bad_records_are_quarantined_not_fatal(record: LogRecord, error: str) -> None:
    state = ResourceState()
    assert fold(state, record) is None
    assert state.quarantine_count == 1
    assert error in state.quarantined[0].error
    assert state.last_seq == 1
    fold(state, applied(2, route(80)))
    assert ROUTE in state.objects


def test_records_fold_once_in_order() -> None:
    state = ResourceState()
    fold(state, applied(5, route(80)))
    with pytest.raises(ValueError, match="in order"):
        fold(state, applied(5, route(80)))


def test_document_view_fills_server_metadata() -> None:
    state = ResourceState()
    fold(state, applied(7, route(80)))
    document = as_document(state.objects[ROUTE])
    assert document["metadata"]["resourceVersion"] == "7"
    assert document["metadata"]["generation"] == 1
    assert document["metadata"]["creationTimestamp"] == "2026-11-26T14:02:07Z"
    assert "resourceVersion" not in state.objects[ROUTE].object["metadata"]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 3) | st.none()), max_size=30))
def test_state_is_the_last_event_per_resource(ops: list[tuple[str, int | None]]) -> None:
    state = ResourceState()
    expected: dict[str, int] = {}
    for seq, (name, port) in enumerate(ops, start=1):
        key = ROUTE.__replace__(name=name)
        if port is None:
            fold(state, deleted(seq, key))
            expected.pop(name, None)
        else:
            fold(state, applied(seq, {**route(port), "metadata": {"name": name, "namespace": "default"}}, key))
            expected[name] = port
    actual = {k.name: o.object["spec"]["rules"][0]["backendRefs"][0]["port"] for k, o in state.objects.items()}
    assert actual == expected


documents = st.dictionaries(
    st.sampled_from(["metadata", "status", "spec", "data", "kind"]), st.integers(0, 2) | st.none(), max_size=5
)


@given(documents, documents)
def test_same_spec_ignores_exactly_metadata_and_status(before: dict[str, Any], after: dict[str, Any]) -> None:
    def spec(document: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in document.items() if k not in ("metadata", "status")}

    assert same_spec(before, after) == (spec(before) == spec(after))
