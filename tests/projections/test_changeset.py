from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied, ResourceDeleted
from projections.changeset import Audit, current_from_records, normalized_document, plan_apply, plan_delete

T0 = datetime(2026, 11, 26, 14, 2, tzinfo=UTC)
AUDIT = Audit(actor="alice", source="test", reason="why", correlation_id="c-1", occurred_at=T0)
SVC = ResourceKey(group="", kind="Service", namespace="default", name="web")


def service(port: int, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", **meta},
        "spec": {"ports": [{"port": port}]},
    }


def record(seq: int, event: ResourceApplied | ResourceDeleted) -> LogRecord:
    return LogRecord(seq=seq, subject=subject_for(event.key), stored_at=T0, data=encode_event(event))


def test_normalized_document_drops_status_and_server_fields_and_sets_namespace() -> None:
    doc = {**service(80, resourceVersion="9", generation=3, uid="u"), "status": {"x": 1}}
    assert normalized_document(doc, SVC) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]},
    }


def test_plan_apply_creates_configures_and_skips_unchanged() -> None:
    stored = normalized_document(service(80), SVC)
    current = current_from_records([record(4, ResourceApplied(key=SVC, object=stored, actor="x", occurred_at=T0))])
    other = SVC.__replace__(name="api")
    plan = plan_apply(
        [(SVC, service(80, resourceVersion="4")), (other, {**service(81), "metadata": {"name": "api"}})], current, AUDIT
    )
    assert [(c.key.name, c.verb) for c in plan] == [("web", "unchanged"), ("api", "created")]
    assert plan[0].append is None
    created = plan[1].append
    assert created is not None and created.expected_revision == 0
    assert isinstance(created.event, ResourceApplied)
    assert (created.event.actor, created.event.reason, created.event.correlation_id) == ("alice", "why", "c-1")

    changed = plan_apply([(SVC, service(8080))], current, AUDIT)
    assert changed[0].verb == "configured"
    assert changed[0].append is not None and changed[0].append.expected_revision == 4


def test_apply_after_delete_is_a_create_checked_against_the_deletion() -> None:
    current = current_from_records([record(9, ResourceDeleted(key=SVC, actor="x", occurred_at=T0))])
    plan = plan_apply([(SVC, service(80))], current, AUDIT)
    assert plan[0].verb == "created"
    assert plan[0].append is not None and plan[0].append.expected_revision == 9


def test_plan_delete() -> None:
    current = current_from_records(
        [record(3, ResourceApplied(key=SVC, object=normalized_document(service(80), SVC), actor="x", occurred_at=T0))]
    )
    plan = plan_delete([SVC, SVC.__replace__(name="ghost")], current, AUDIT)
    assert [(c.key.name, c.verb) for c in plan] == [("web", "deleted"), ("ghost", "not found")]
    assert plan[0].append is not None and plan[0].append.expected_revision == 3
    assert isinstance(plan[0].append.event, ResourceDeleted)
