"""Which listeners of a parent Gateway accept a route: sectionName/port, allowed kinds and namespaces,
hostname intersection; and the reason when none does."""

from __future__ import annotations

import msgspec

from events.keys import ResourceKey
from projections.gatewayapi.gateways import GatewayContext, ListenerContext
from projections.gatewayapi.hostnames import route_hostnames
from projections.gatewayapi.inputs import Reader
from projections.resources.gatewayapi import GROUP, ParentReference


class Attached(msgspec.Struct, frozen=True, kw_only=True):
    listener: ListenerContext
    hostnames: tuple[str, ...]  # empty for TCP and UDP listeners


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    message: str


def gateway_key(route: ResourceKey, ref: ParentReference) -> ResourceKey | None:
    """The Gateway a parentRef names, or None when it names another kind of parent."""
    if ref.group != GROUP or ref.kind != "Gateway":
        return None
    return ResourceKey(group=GROUP, kind="Gateway", namespace=ref.namespace or route.namespace, name=ref.name)


def attach(
    reader: Reader,
    route: ResourceKey,
    ref: ParentReference,
    gateway: GatewayContext,
    hostnames: tuple[str, ...] | None,
) -> list[Attached] | Refusal:
    """The listeners of `gateway` that accept the route through `ref`. `hostnames` is None for route kinds
    without hostnames (TCPRoute, UDPRoute)."""
    accepting = accepting_listeners(reader, route, ref, gateway)
    if isinstance(accepting, Refusal):
        return accepting
    if hostnames is None:
        return [Attached(listener=listener, hostnames=()) for listener in accepting]
    attached = []
    for listener in accepting:
        names = route_hostnames(listener.hostname, hostnames)
        if names:
            attached.append(Attached(listener=listener, hostnames=tuple(names)))
    if not attached:
        return Refusal(
            reason="NoMatchingListenerHostname",
            message="There were no hostname intersections between the route and this parent ref's Listener(s).",
        )
    return attached


def accepting_listeners(
    reader: Reader, route: ResourceKey, ref: ParentReference, gateway: GatewayContext
) -> tuple[ListenerContext, ...] | Refusal:
    """The listeners of `gateway` that `ref` names and that accept routes of `route`'s kind and namespace, or
    why none does (hostnames apart): the same for every route attached alike, so read once for them all
    (`Reader.shared`)."""
    return reader.shared(
        ("accepting listeners", gateway.key, ref.section_name, ref.port, route.kind, route.namespace),
        _accepting,
        gateway,
        ref,
        route,
    )


def _accepting(
    reader: Reader, gateway: GatewayContext, ref: ParentReference, route: ResourceKey
) -> tuple[ListenerContext, ...] | Refusal:
    """The listeners of `gateway` that `ref` names and that accept routes of `route`'s kind and namespace, or
    why none does (hostnames apart)."""
    if not gateway.accepted:
        return Refusal(reason="NoMatchingParent", message="The parent Gateway is not accepted")
    candidates = [
        listener
        for listener in gateway.listeners
        if (ref.section_name is None or listener.name == ref.section_name)
        and (ref.port is None or listener.port == ref.port)
    ]
    if not candidates:
        return Refusal(reason="NoMatchingParent", message="No listeners match this parent ref")
    ready = [listener for listener in candidates if listener.ready]
    if not ready:
        return Refusal(reason="NoMatchingParent", message="There are no ready listeners for this parent ref")
    allowed = [listener for listener in ready if _kind_allowed(listener, route.kind)]
    if not allowed:
        return Refusal(
            reason="NotAllowedByListeners",
            message=f"None of the listeners of this parent ref allow {route.kind}",
        )
    allowed = [listener for listener in allowed if _namespace_allowed(reader, listener, gateway.key, route.namespace)]
    if not allowed:
        return Refusal(
            reason="NotAllowedByListeners",
            message="No listeners included by this parent ref allowed this attachment.",
        )
    return tuple(allowed)


def _kind_allowed(listener: ListenerContext, kind: str) -> bool:
    return any(gk.group == GROUP and gk.kind == kind for gk in listener.kinds)


def _namespace_allowed(reader: Reader, listener: ListenerContext, gateway: ResourceKey, namespace: str) -> bool:
    if listener.namespaces_from == "All":
        return True
    if listener.namespaces_from == "Same":
        return namespace == gateway.namespace
    if listener.selector is None:
        return False
    return listener.selector.matches(reader.namespace_labels(namespace))
