"""Incremental translation equals translation from scratch, after any sequence of events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.keys import ResourceKey
from projections.gatewayapi.translator import Deleted, Translator, translate
from projections.ir import encode_gateway_ir
from tests.projections.gatewayapi.universe import SLOTS, resource

# An event: (slot, variant) applies that variant of the slot's object; variant -1 deletes it.
events = st.lists(
    st.tuples(st.integers(0, len(SLOTS) - 1), st.integers(-1, 4)),
    min_size=1,
    max_size=40,
)


def scratch(translator: Translator) -> Translator:
    fresh = Translator()
    fresh.apply(list(translator.inputs))
    return fresh


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.booleans())
def test_incremental_equals_from_scratch(sequence: list[tuple[int, int]], populated: bool) -> None:
    """From an empty state or from every object at its first variant, apply random events."""
    translator = Translator()
    if populated:
        translator.apply([resource(slot, 0) for slot in range(len(SLOTS))])
    keys: dict[int, ResourceKey] = {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step, (slot, variant) in enumerate(sequence):
        keys.setdefault(slot, resource(slot, 0).key)
        change = Deleted(key=keys[slot]) if variant < 0 else resource(slot, variant)
        translator.apply([change], at=start + timedelta(seconds=step))
        if step % 5 == 4:
            fresh = scratch(translator)
            assert translator.gateways == fresh.gateways
            assert translator.raw_statuses == fresh.raw_statuses
    fresh = scratch(translator)
    assert translator.gateways == fresh.gateways
    assert translator.raw_statuses == fresh.raw_statuses
    assert translator.dependencies() == fresh.dependencies()  # nothing left behind by what came and went


def test_the_universe_produces_ir_and_status() -> None:
    """The universe is not vacuous: with every object at variant 0, routes attach and IR has destinations."""
    result = translate(resource(slot, 0) for slot in range(len(SLOTS)))
    assert set(result.gateways) == {"default/gw-a", "default/gw-b"}
    assert result.gateways["default/gw-a"].destinations
    assert any(k.kind == "HTTPRoute" for k in result.statuses)
    assert any(k.kind == "BackendTrafficPolicy" for k in result.statuses)
    routes = [r for x in result.gateways["default/gw-a"].http for v in x.virtual_hosts for r in v.routes]
    assert {r.rate_limit.policy for r in routes if r.rate_limit is not None} == {"default/p-global"}
    local = result.statuses[resource(SLOTS.index(next(s for s in SLOTS if s[0] == "btp/p-local")), 0).key]
    assert "Conflicted" in str(local)  # p-global and p-local both target r1: the first by name wins


@settings(max_examples=50, deadline=None)
@given(events)
def test_replay_gives_identical_status_and_times(sequence: list[tuple[int, int]]) -> None:
    """Folding the same events twice gives the same status, lastTransitionTime included."""
    outputs = []
    for _ in range(2):
        translator = Translator()
        keys: dict[int, ResourceKey] = {}
        for step, (slot, variant) in enumerate(sequence):
            keys.setdefault(slot, resource(slot, 0).key)
            change = Deleted(key=keys[slot]) if variant < 0 else resource(slot, variant)
            translator.apply([change], at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=step))
        outputs.append((translator.gateways, translator.statuses))
    assert outputs[0] == outputs[1]


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(len(SLOTS))))
def test_input_order_does_not_change_the_ir_bytes(order: list[int]) -> None:
    expected = translate(resource(slot, 0) for slot in range(len(SLOTS)))
    shuffled = translate(resource(slot, 0) for slot in order)
    assert [encode_gateway_ir(g) for g in shuffled.gateways.values()] == [
        encode_gateway_ir(g) for g in expected.gateways.values()
    ]
    assert shuffled.statuses == expected.statuses
