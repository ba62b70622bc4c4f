"""Gateway API status, as the API defines it: conditions, listener status, route parent status.

Translation produces status without `lastTransitionTime`; `transitions.stamp` fills it in from the time of
the event that last changed each condition, so that status stays a pure function of the log.
"""

from __future__ import annotations

import msgspec

CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"


class StatusStruct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel", gc=False):
    """Base of every status struct: camelCase on the wire, as Kubernetes writes it. Not tracked by the cyclic
    garbage collector (`gc=False`), like the IR's: a status holds only scalars, tuples and status structs."""


class Condition(StatusStruct, frozen=True, kw_only=True):
    type: str
    status: str  # "True", "False", "Unknown"
    reason: str
    message: str
    observed_generation: int
    last_transition_time: str = ""


def condition(type_: str, ok: bool, reason: str, message: str, generation: int) -> Condition:
    return Condition(
        type=type_, status="True" if ok else "False", reason=reason, message=message, observed_generation=generation
    )


class GatewayClassStatus(StatusStruct, frozen=True, kw_only=True):
    conditions: tuple[Condition, ...] = ()


class GroupKind(StatusStruct, frozen=True, kw_only=True):
    group: str
    kind: str


class ListenerStatus(StatusStruct, frozen=True, kw_only=True):
    name: str
    supported_kinds: tuple[GroupKind, ...]
    attached_routes: int
    conditions: tuple[Condition, ...]


class GatewayStatusAddress(StatusStruct, frozen=True, kw_only=True):
    type: str
    value: str


class GatewayStatus(StatusStruct, frozen=True, kw_only=True):
    addresses: tuple[GatewayStatusAddress, ...] = ()
    conditions: tuple[Condition, ...] = ()
    listeners: tuple[ListenerStatus, ...] = ()


class ParentRefStatus(StatusStruct, frozen=True, kw_only=True):
    """The parentRef exactly as the route gave it (with the API's defaults for group and kind)."""

    group: str
    kind: str
    name: str
    namespace: str | None = None
    section_name: str | None = None
    port: int | None = None


class RouteParentStatus(StatusStruct, frozen=True, kw_only=True):
    parent_ref: ParentRefStatus
    controller_name: str
    conditions: tuple[Condition, ...]


class RouteStatus(StatusStruct, frozen=True, kw_only=True):
    parents: tuple[RouteParentStatus, ...] = ()


class PolicyAncestorStatus(StatusStruct, frozen=True, kw_only=True):
    ancestor_ref: ParentRefStatus
    controller_name: str
    conditions: tuple[Condition, ...]


class PolicyStatus(StatusStruct, frozen=True, kw_only=True):
    ancestors: tuple[PolicyAncestorStatus, ...] = ()


Status = GatewayClassStatus | GatewayStatus | RouteStatus | PolicyStatus
