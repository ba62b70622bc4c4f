"""Replay is exact: translating the state at a point from scratch gives what a daemon that caught up
earlier and then followed the log one event at a time serves right after folding that point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import Event, LogRecord, ResourceApplied, ResourceDeleted
from projections.pipeline import Pipeline
from projections.replay import Point, fold_until, ir_documents, view_of, what_if, xds_documents, xds_sets
from projections.resources.decode import decode_resource
from projections.xds.resources import ResourceSet
from projections.xds.translate import XdsFleet
from tests.projections.gatewayapi.universe import SLOTS

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def document(slot: int, variant: int) -> tuple[ResourceKey, dict[str, Any]]:
    _, count, build = SLOTS[slot]
    built = build(variant % count)
    built["metadata"].pop("generation", None)
    return decode_resource(built, f"slot {slot}").key, built


def log_of(steps: list[tuple[int, int]]) -> list[LogRecord]:
    """(slot, variant) applies that variant of the slot's object; variant -1 deletes it."""
    records = []
    for seq, (slot, variant) in enumerate(steps, 1):
        key, built = document(slot, max(variant, 0))
        event: Event = (
            ResourceDeleted(key=key, actor="t", occurred_at=T0)
            if variant < 0
            else ResourceApplied(key=key, object=built, actor="t", occurred_at=T0)
        )
        stored_at = T0 + timedelta(seconds=seq)
        records.append(LogRecord(seq=seq, subject=subject_for(key), stored_at=stored_at, data=encode_event(event)))
    return records


class DaemonModel:
    """What the daemon's follower and publisher do: fold the backlog, translate once, then one event at a time."""

    def __init__(self, backlog: list[LogRecord]) -> None:
        self.pipeline = Pipeline()
        self.fleet = XdsFleet()
        for record in backlog:
            self.pipeline.fold(record, translate=False)
        changes = self.pipeline.translate_all()
        self._publish(set(changes.gateways) | set(changes.gateways_removed))

    def fold(self, record: LogRecord) -> None:
        step = self.pipeline.fold(record)
        self._publish(set(step.translation.gateways) | set(step.translation.gateways_removed))

    def _publish(self, dirty: set[str]) -> None:
        for name in dirty:
            gateway = self.pipeline.translator.gateway(name)
            if gateway is not None:
                self.fleet.apply(gateway)
            else:
                self.fleet.remove(name)

    def served(self) -> dict[str, ResourceSet]:
        """What /api/v1/xds shows: every Gateway with an IR, its published resources."""
        out = {}
        for name in self.pipeline.translator.gateways:
            resources = self.fleet.resources(name)
            assert resources is not None
            out[name] = resources
        return out


steps = st.lists(st.tuples(st.integers(0, len(SLOTS) - 1), st.integers(-1, 4)), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2).flatmap(lambda n: st.tuples(st.just(n), steps)))
def test_replay_at_every_point_equals_what_the_daemon_served(case: tuple[int, list[tuple[int, int]]]) -> None:
    backlog_steps, sequence = case
    warmup = [(slot, 0) for slot in range(len(SLOTS))][: backlog_steps * 7]
    records = log_of(warmup + sequence)
    daemon = DaemonModel(records[: len(warmup)])
    for record in records[len(warmup) :]:
        daemon.fold(record)
        replayed = fold_until(records, Point(seq=record.seq))
        assert xds_documents(xds_sets(replayed)) == xds_documents(daemon.served())
        assert ir_documents(replayed) == ir_documents(daemon.pipeline)
        assert replayed.translator.raw_statuses == daemon.pipeline.translator.raw_statuses


def test_the_universe_serves_something() -> None:
    """Not vacuous: with every object applied, Gateways get listeners and clusters."""
    records = log_of([(slot, 0) for slot in range(len(SLOTS))])
    sets = xds_sets(fold_until(records, Point(seq=len(records))))
    assert set(sets) == {"default/gw-a", "default/gw-b"}
    assert all(resources.by_type for resources in sets.values())


def test_a_time_point_includes_what_was_stored_at_or_before_it() -> None:
    records = log_of([(slot, 0) for slot in range(5)])
    by_time = fold_until(records, Point(time=records[2].stored_at))
    by_seq = fold_until(records, Point(seq=3))
    assert by_time.state.last_seq == 3
    assert by_time.state.objects == by_seq.state.objects
    assert fold_until(records, Point(time=T0)).state.objects == {}


def test_a_point_is_a_sequence_or_a_time() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Point()
    with pytest.raises(ValueError, match="exactly one"):
        Point(seq=1, time=T0)
    assert str(Point(seq=7)) == "sequence 7"
    assert str(Point(time=T0)) == "2026-11-26T14:00:00Z"


def test_what_if_reports_the_xds_and_status_an_event_would_change() -> None:
    records = log_of([(slot, 0) for slot in range(len(SLOTS))])
    pipeline = fold_until(records, Point(seq=len(records)))
    before = view_of(pipeline)
    route_slot = next(i for i, (name, _, _) in enumerate(SLOTS) if name == "route/default/r1")
    key, _ = document(route_slot, 0)
    outcome = what_if(pipeline, [ResourceDeleted(key=key, actor="t", occurred_at=T0)], T0 + timedelta(hours=1))
    assert [(c.resource, c.change) for c in outcome.objects] == [(str(key), "deleted")]
    assert [s.resource for s in outcome.statuses if s.resource == str(key)] == [str(key)]
    gateways = {change.gateway: change for change in outcome.xds}
    assert "default/gw-a" in gateways and gateways["default/gw-a"].change == "changed"
    # what_if folds into the pipeline it is given: the result equals replaying the log with the event
    after = view_of(pipeline)
    assert key in before.objects and key not in after.objects
    assert after.xds["default/gw-a"] != before.xds["default/gw-a"]
