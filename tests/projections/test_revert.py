"""Revert planning: the events it plans bring the state back to the point's, each expecting the current
revision, and the memory store refuses them when something changed meanwhile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.codec import decode_event, encode_event
from events.errors import ConflictError
from events.keys import ResourceKey, subject_for
from events.memory import MemoryEventStore
from events.schema import LogRecord
from events.store import Append
from projections.changeset import Audit, current_from_records, plan_revert
from projections.replay import Point, fold_until
from tests.projections.gatewayapi.universe import SLOTS
from tests.projections.test_replay import log_of

T0 = datetime(2026, 11, 26, 14, 2, tzinfo=UTC)
AUDIT = Audit(actor="alice", source="egd revert", reason="revert to sequence 3", correlation_id="c", occurred_at=T0)

steps = st.lists(st.tuples(st.integers(0, len(SLOTS) - 1), st.integers(-1, 4)), min_size=1, max_size=30)


def objects_at(records: list[LogRecord], seq: int) -> dict[ResourceKey, dict[str, object]]:
    state = fold_until(records, Point(seq=seq)).state
    return {key: stored.object for key, stored in state.objects.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.data())
def test_folding_the_revert_restores_the_state_of_the_point(
    sequence: list[tuple[int, int]], data: st.DataObject
) -> None:
    records = log_of(sequence)
    point = data.draw(st.integers(0, len(records)))
    target, now = objects_at(records, point), objects_at(records, len(records))
    plan = plan_revert(target, now, current_from_records(records), AUDIT)
    assert len({change.key for change in plan}) == len(plan), "one event per resource"
    reverted = list(records)
    for change in plan:
        assert change.append is not None
        expected = change.append.expected_revision
        last = max((r.seq for r in reverted if r.subject == subject_for(change.key)), default=0)
        assert expected == last, "every event expects the resource's current revision"
        seq = len(reverted) + 1
        stored_at = T0 + timedelta(days=1)
        reverted.append(
            LogRecord(
                seq=seq, subject=subject_for(change.key), stored_at=stored_at, data=encode_event(change.append.event)
            )
        )
    assert objects_at(reverted, len(reverted)) == target
    assert plan_revert(target, objects_at(reverted, len(reverted)), current_from_records(reverted), AUDIT) == []


def test_a_change_published_meanwhile_makes_the_revert_fail_whole() -> None:
    async def scenario() -> None:
        records = log_of([(0, 0), (1, 0), (0, 2)])
        store = MemoryEventStore()

        await store.append([Append(event=decode_event(r.data)) for r in records])
        plan = plan_revert(objects_at(records, 2), objects_at(records, 3), current_from_records(records), AUDIT)
        assert [change.verb for change in plan] == ["configured"]
        meanwhile = log_of([(0, -1)])[0]  # someone deletes it meanwhile
        await store.append([Append(event=decode_event(meanwhile.data))])
        with pytest.raises(ConflictError):
            await store.append([change.append for change in plan if change.append is not None])

    asyncio.run(scenario())
