"""lastTransitionTime: the time of the event that last changed a condition.

A condition keeps its previous time while its status, reason and message stay the same (a new
observedGeneration alone is no transition); otherwise it takes the time of the event being folded. Status is
thereby a pure function of the log: replaying the same events gives the same times.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from projections.gatewayapi.status import (
    Condition,
    GatewayClassStatus,
    GatewayStatus,
    PolicyStatus,
    RouteStatus,
    Status,
)


def format_time(when: datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # `2024-05-01T12:00:00+00:00` -> `2024-05-01T12:00:00Z` (isoformat costs a third of strftime)
    return when.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


def _conditions(previous: Iterable[Condition], current: tuple[Condition, ...], when: str) -> tuple[Condition, ...]:
    before = {c.type: c for c in previous}
    out = []
    for c in current:
        old = before.get(c.type)
        same = old is not None and (old.status, old.reason, old.message) == (c.status, c.reason, c.message)
        time = old.last_transition_time if same and old is not None else when
        out.append(msgspec.structs.replace(c, last_transition_time=time))
    return tuple(out)


def stamp(previous: Status | None, current: Status, when: datetime | None) -> Status:
    """`current` with every condition's lastTransitionTime set, carried over from `previous` where unchanged."""
    at = format_time(when)
    if isinstance(current, GatewayClassStatus):
        old = previous.conditions if isinstance(previous, GatewayClassStatus) else ()
        return msgspec.structs.replace(current, conditions=_conditions(old, current.conditions, at))
    if isinstance(current, GatewayStatus):
        old_gateway = previous if isinstance(previous, GatewayStatus) else GatewayStatus()
        old_listeners = {listener.name: listener.conditions for listener in old_gateway.listeners}
        listeners = tuple(
            msgspec.structs.replace(
                listener, conditions=_conditions(old_listeners.get(listener.name, ()), listener.conditions, at)
            )
            for listener in current.listeners
        )
        conditions = _conditions(old_gateway.conditions, current.conditions, at)
        return msgspec.structs.replace(current, conditions=conditions, listeners=listeners)
    if isinstance(current, RouteStatus):
        old_parents = (
            {p.parent_ref: p.conditions for p in previous.parents} if isinstance(previous, RouteStatus) else {}
        )
        parents = tuple(
            msgspec.structs.replace(p, conditions=_conditions(old_parents.get(p.parent_ref, ()), p.conditions, at))
            for p in current.parents
        )
        return msgspec.structs.replace(current, parents=parents)
    old_ancestors = (
        {a.ancestor_ref: a.conditions for a in previous.ancestors} if isinstance(previous, PolicyStatus) else {}
    )
    ancestors = tuple(
        msgspec.structs.replace(a, conditions=_conditions(old_ancestors.get(a.ancestor_ref, ()), a.conditions, at))
        for a in current.ancestors
    )
    return msgspec.structs.replace(current, ancestors=ancestors)
