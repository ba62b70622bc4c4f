"""A route is translated once for parents alike (`routes._ParentShape`) and copied for the others: that sharing
changes nothing, whatever the Gateways, their listeners and the policies on them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.gatewayapi.inputs import Reader
from projections.gatewayapi.translator import Translator
from tests.projections.gatewayapi.universe import SLOTS, resource

T = TypeVar("T")

states = st.lists(st.integers(-1, 6), min_size=len(SLOTS), max_size=len(SLOTS))


@contextmanager
def nothing_alike() -> Iterator[None]:
    """Every parent translated for itself: `Reader.alike` never finds an equal value."""
    original = Reader.alike

    def distinct(self: Reader, value: T) -> T:
        return value

    Reader.alike = distinct  # type: ignore[method-assign]
    try:
        yield
    finally:
        Reader.alike = original  # type: ignore[method-assign]


def translated(variants: list[int]) -> Translator:
    translator = Translator()
    translator.apply(
        [resource(slot, variant % SLOTS[slot][1]) for slot, variant in enumerate(variants) if variant >= 0]
    )
    return translator


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_sharing_between_parents_alike_changes_nothing(variants: list[int]) -> None:
    shared = translated(variants)
    with nothing_alike():
        alone = translated(variants)
    assert shared.gateways == alone.gateways
    assert shared.raw_statuses == alone.raw_statuses
    assert shared.dependencies() == alone.dependencies()


def test_gateways_alike_share_and_others_do_not() -> None:
    """Not vacuous: with both Gateways alike, a route attached to both gets the same routes on each; a policy on
    one Gateway makes them differ."""
    names = [name for name, _, _ in SLOTS]
    without_policies = [-1 if name.startswith(("btp/", "ctp/")) else 0 for name in names]
    without_policies[names.index("route/default/r1")] = 2  # attached to both Gateways alike
    alike = translated(without_policies)
    a, b = (alike.gateways[f"default/gw-{g}"] for g in "ab")
    routes_a = [r for x in a.http for v in x.virtual_hosts for r in v.routes if "r1" in r.name]
    routes_b = [r for x in b.http for v in x.virtual_hosts for r in v.routes if "r1" in r.name]
    assert routes_a and routes_a == routes_b
    limit_on_a = list(without_policies)
    limit_on_a[names.index("btp/p-local")] = 1  # a local rate limit on gw-a
    differ = translated(limit_on_a)
    a, b = (differ.gateways[f"default/gw-{g}"] for g in "ab")
    routes_a = [r for x in a.http for v in x.virtual_hosts for r in v.routes if "r1" in r.name]
    routes_b = [r for x in b.http for v in x.virtual_hosts for r in v.routes if "r1" in r.name]
    assert routes_a and routes_b and routes_a != routes_b
