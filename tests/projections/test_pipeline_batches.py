"""Translating a batch of folded changes at once gives the IR that translating them one by one gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from events.codec import encode_event
from events.keys import subject_for
from events.schema import LogRecord, ResourceApplied, ResourceDeleted
from projections.pipeline import Pipeline
from tests.bench.test_replay_bench import route_event
from tests.bench.test_restart_bench import site_events
from tests.projections.test_state import T0

SITE = site_events(T0)


def records(ops: list[tuple[int, bool]]) -> list[LogRecord]:
    events: list[ResourceApplied | ResourceDeleted] = list(SITE)
    for version, (route, delete) in enumerate(ops):
        applied = route_event(route + 10_000 * version, T0)
        key = applied.key.__replace__(name=f"route-{route}")
        document = {**applied.object, "metadata": {"name": key.name, "namespace": "default"}}
        events.append(
            ResourceDeleted(key=key, actor="t", occurred_at=T0)
            if delete
            else ResourceApplied(key=key, object=document, actor="t", occurred_at=T0)
        )
    return [
        LogRecord(seq=seq, subject=subject_for(event.key), stored_at=T0, data=encode_event(event))
        for seq, event in enumerate(events, start=1)
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=25), st.data())
def test_batches_translate_like_single_events(ops: list[tuple[int, bool]], data: st.DataObject) -> None:
    log = records(ops)
    one_by_one, batched = Pipeline(), Pipeline()
    for record in log[: len(SITE)]:
        one_by_one.fold(record, translate=False)
        batched.fold(record, translate=False)
    one_by_one.translate_all()
    batched.translate_all()
    pending = []
    for record in log[len(SITE) :]:
        one_by_one.fold(record)
        change = batched.fold(record, translate=False).state
        assert change is not None
        pending.append(change)
        if data.draw(st.booleans()):
            batched.translate_changes(pending)
            pending = []
    batched.translate_changes(pending)
    assert "default/edge" in batched.translator.gateways
    assert batched.translator.gateways == one_by_one.translator.gateways
    assert batched.translator.raw_statuses == one_by_one.translator.raw_statuses


def test_the_translation_reflects_the_sequence_it_last_translated() -> None:
    """What the xDS stage publishes reflects what was translated, not what the state folded since (the delivery
    audit tells each Envoy's config by it)."""
    log = records([(0, False), (1, False)])
    pipeline = Pipeline()
    for record in log[:-1]:
        pipeline.fold(record, translate=False)
    pipeline.translate_all()
    assert pipeline.translated_seq == log[-2].seq
    change = pipeline.fold(log[-1], translate=False).state
    assert change is not None and pipeline.translated_seq == log[-2].seq
    pipeline.translate_changes([change])
    assert pipeline.translated_seq == log[-1].seq
