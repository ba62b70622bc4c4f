"""BackendTrafficPolicy attachment: which policy applies to a route, and each policy's status.

A policy targets objects of its own namespace by `targetRef(s)` (a Gateway, optionally one listener by
`sectionName`; an HTTPRoute or GRPCRoute) or by `targetSelectors` (labels). The most specific policy wins, per
feature, as Envoy Gateway does: the route's own policy, then its listener's, then its Gateway's. Two policies
on the same target: the first by name wins and the other is `Conflicted` (Envoy Gateway orders by creation
time first; the log keeps no such time in the object, so the name decides).

Policy status is Envoy Gateway's: one `ancestors[]` entry per Gateway the policy reaches (with the listener's
`sectionName` when it targets one, or the route's parentRef), `Accepted` True, or False with `Conflicted`
or `TargetNotFound`; and `Overridden` on a Gateway policy when routes have their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.attachment import gateway_key
from projections.gatewayapi.gateways import GatewayContext
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.status import (
    CONTROLLER_NAME,
    Condition,
    ParentRefStatus,
    PolicyAncestorStatus,
    PolicyStatus,
    condition,
)
from projections.resources.envoygateway import BackendTrafficPolicy
from projections.resources.envoygateway.ratelimit import RateLimitRule, RateLimitSpec
from projections.resources.gatewayapi import GROUP, GRPCRoute, HTTPRoute
from projections.resources.policy import TargetSelector, policy_target_refs

BTP = "BackendTrafficPolicy"
ROUTE_TARGET_KINDS = ("HTTPRoute", "GRPCRoute")

GatewayLookup = Callable[[Reader, ResourceKey], GatewayContext | None]
# gateway -> {route: listeners it attaches to} for the routes that have a policy of their own
OverridesLookup = Callable[[Reader, ResourceKey], Mapping[ResourceKey, tuple[str, ...]]]


class GatewayPolicies(msgspec.Struct, frozen=True, kw_only=True):
    """The winning policies of one Gateway: for the whole Gateway, and per listener."""

    gateway: Resource | None = None
    listeners: dict[str, Resource] = {}


def _labels(resource: Resource) -> dict[str, str]:
    labels = getattr(getattr(resource.model, "metadata", None), "labels", None)
    return labels if isinstance(labels, dict) else {}


def _spec(resource: Resource) -> object | None:
    return resource.model.spec if isinstance(resource.model, BackendTrafficPolicy) else None


def _selects(selector: TargetSelector, kind: str, labels: dict[str, str]) -> bool:
    return selector.kind == kind and selector.group == GROUP and selector.matches(labels)


def _targeting(
    reader: Reader, kind: str, namespace: str, name: str, labels: Callable[[], dict[str, str]]
) -> list[tuple[Resource, str | None]]:
    """(policy, sectionName) for every BackendTrafficPolicy that targets the object, sorted by precedence."""
    found: set[tuple[ResourceKey, str | None]] = set()
    by_key: dict[ResourceKey, Resource] = {}
    for policy in reader.policies_naming(BTP, kind, namespace, name):
        model = policy.model
        if not isinstance(model, BackendTrafficPolicy):
            continue
        for ref in policy_target_refs(model.spec):
            if ref.group == GROUP and ref.kind == kind and ref.name == name:
                found.add((policy.key, ref.section_name))
                by_key[policy.key] = policy
    selecting = [p for p in reader.policies_selecting(BTP, namespace) if isinstance(p.model, BackendTrafficPolicy)]
    if selecting:
        object_labels = labels()
        for policy in selecting:
            assert isinstance(policy.model, BackendTrafficPolicy)
            if any(_selects(s, kind, object_labels) for s in policy.model.spec.target_selectors):
                found.add((policy.key, None))
                by_key[policy.key] = policy
    return [(by_key[key], section) for key, section in sorted(found, key=lambda f: (f[0].name, f[1] or ""))]


def route_policy(reader: Reader, key: ResourceKey, labels: dict[str, str]) -> Resource | None:
    """The policy of a route itself (route-level targets without sectionName), if any wins."""
    for policy, section in _targeting(reader, key.kind, key.namespace, key.name, lambda: labels):
        if section is None:
            return policy
    return None


def gateway_policies(reader: Reader, key: ResourceKey) -> GatewayPolicies:
    def labels() -> dict[str, str]:
        gateway = reader.get(key)
        return _labels(gateway) if gateway is not None else {}

    whole: Resource | None = None
    listeners: dict[str, Resource] = {}
    for policy, section in _targeting(reader, "Gateway", key.namespace, key.name, labels):
        if section is None:
            whole = whole or policy
        elif section not in listeners:
            listeners[section] = policy
    return GatewayPolicies(gateway=whole, listeners=listeners)


def effective_rate_limit(route: Resource | None, gateway: GatewayPolicies | None, listener: str) -> ir.RateLimit | None:
    """The rate limit of the most specific policy that has one: route, listener, then Gateway."""
    candidates = [route]
    if gateway is not None:
        candidates += [gateway.listeners.get(listener), gateway.gateway]
    for policy in candidates:
        if policy is not None:
            limit = rate_limit_of(policy)
            if limit is not None:
                return limit
    return None


def rate_limit_of(policy: Resource) -> ir.RateLimit | None:
    model = policy.model
    if not isinstance(model, BackendTrafficPolicy) or model.spec.rate_limit is None:
        return None
    spec: RateLimitSpec = model.spec.rate_limit
    name = f"{policy.key.namespace}/{policy.key.name}"
    if spec.type == "Global" and spec.global_ is not None:
        shared = bool(spec.global_.shared)
        rules = tuple(_rule(i, r, shared) for i, r in enumerate(spec.global_.rules))
        return ir.RateLimit(type="Global", policy=name, rules=rules)
    if spec.type == "Local" and spec.local is not None:
        rules = tuple(_rule(i, r, False) for i, r in enumerate(spec.local.rules))
        return ir.RateLimit(type="Local", policy=name, rules=rules)
    return None


def _rule(index: int, rule: RateLimitRule, shared: bool) -> ir.RateLimitRule:
    headers: list[ir.RateLimitHeader] = []
    methods: list[str] = []
    methods_invert: list[str] = []
    path: ir.PathMatch | None = None
    path_invert = False
    source: ir.RateLimitSource | None = None
    for selector in rule.client_selectors:  # every condition of every selector must hold
        headers.extend(
            ir.RateLimitHeader(name=h.name, type=h.type, value=h.value or "", invert=h.invert) for h in selector.headers
        )
        for method in selector.methods:
            (methods_invert if method.invert else methods).append(method.value)
        if selector.path is not None:
            path = ir.PathMatch(type=selector.path.type, value=selector.path.value)
            path_invert = selector.path.invert
        if selector.source_cidr is not None:
            network = ipaddress.ip_network(selector.source_cidr.value, strict=False)
            source = ir.RateLimitSource(cidr=str(network), distinct=selector.source_cidr.type == "Distinct")
    cost = None
    if rule.cost is not None and rule.cost.request is not None and rule.cost.request.from_ == "Number":
        cost = rule.cost.request.number
    return ir.RateLimitRule(
        index=index,
        requests=rule.limit.requests,
        unit=rule.limit.unit,
        headers=tuple(headers),
        methods=tuple(methods),
        methods_invert=tuple(methods_invert),
        path=path,
        path_invert=path_invert,
        source=source,
        cost=cost,
        shadow_mode=bool(rule.shadow_mode),
        shared=rule.shared if rule.shared is not None else shared,
    )


# --- status --------------------------------------------------------------------------------------------------


def _ancestor(gateway: ResourceKey, section: str | None) -> ParentRefStatus:
    return ParentRefStatus(
        group=GROUP, kind="Gateway", name=gateway.name, namespace=gateway.namespace, section_name=section
    )


def policy_status(
    reader: Reader, key: ResourceKey, gateways: GatewayLookup, overrides: OverridesLookup
) -> PolicyStatus | None:
    """The status of the BackendTrafficPolicy at `key`; None when it does not exist or reaches no Gateway."""
    resource = reader.get(key)
    if resource is None or not isinstance(resource.model, BackendTrafficPolicy):
        return None
    spec = resource.model.spec
    generation = resource.generation
    ancestors: dict[ParentRefStatus, tuple[Condition, ...]] = {}
    targets: list[tuple[str, str, str | None]] = [
        (ref.kind, ref.name, ref.section_name) for ref in policy_target_refs(spec) if ref.group == GROUP
    ]
    for selector in spec.target_selectors:
        if selector.group == GROUP and selector.kind in ("Gateway", *ROUTE_TARGET_KINDS):
            for found in reader.listed(selector.kind, key.namespace):
                if _selects(selector, selector.kind, _labels(found)):
                    targets.append((selector.kind, found.key.name, None))
    for kind, name, section in dict.fromkeys(targets):
        if kind == "Gateway":
            _gateway_target(reader, resource, name, section, gateways, overrides, ancestors, generation)
        elif kind in ROUTE_TARGET_KINDS:
            _route_target(reader, resource, kind, name, section, gateways, ancestors, generation)
    if not ancestors:
        return None
    return PolicyStatus(
        ancestors=tuple(
            PolicyAncestorStatus(ancestor_ref=ref, controller_name=CONTROLLER_NAME, conditions=conditions)
            for ref, conditions in ancestors.items()
        )
    )


def _winner(reader: Reader, policy: Resource, kind: str, name: str, section: str | None) -> bool:
    namespace = policy.key.namespace

    def labels() -> dict[str, str]:
        found = reader.get(ResourceKey(group=GROUP, kind=kind, namespace=namespace, name=name))
        return _labels(found) if found is not None else {}

    for other, other_section in _targeting(reader, kind, namespace, name, labels):
        if other_section == section:
            return other.key == policy.key
    return True


def _accepted(generation: int) -> Condition:
    return condition("Accepted", True, "Accepted", "Policy has been accepted.", generation)


def _gateway_target(
    reader: Reader,
    policy: Resource,
    name: str,
    section: str | None,
    gateways: GatewayLookup,
    overrides: OverridesLookup,
    ancestors: dict[ParentRefStatus, tuple[Condition, ...]],
    generation: int,
) -> None:
    key = ResourceKey(group=GROUP, kind="Gateway", namespace=policy.key.namespace, name=name)
    context = gateways(reader, key)
    if context is None:
        return  # Envoy Gateway: a target that does not exist gets no ancestor
    ref = _ancestor(key, section)
    if ref in ancestors:
        return
    if section is not None and context.listener(section) is None:
        message = f"No section name {section} found for Gateway {key.namespace}/{key.name}"
        ancestors[ref] = (condition("Accepted", False, "TargetNotFound", message, generation),)
        return
    if not _winner(reader, policy, "Gateway", name, section):
        if section is None:
            message = f"Unable to target Gateway {name}, another BackendTrafficPolicy has already attached to it"
        else:
            message = (
                f"Unable to target Listener {key.namespace}/{name}/{section}, "
                "another BackendTrafficPolicy has already attached to it"
            )
        ancestors[ref] = (condition("Accepted", False, "Conflicted", message, generation),)
        return
    overriding = sorted(
        f"{route.namespace}/{route.name}"
        for route, listeners in overrides(reader, key).items()
        if section is None or section in listeners
    )
    conditions = [_accepted(generation)]
    if overriding:
        message = (
            "This policy is being overridden by other backendTrafficPolicies for these routes: "
            f"[{' '.join(overriding)}]"
        )
        conditions.append(condition("Overridden", True, "Overridden", message, generation))
    ancestors[ref] = tuple(conditions)


def _route_target(
    reader: Reader,
    policy: Resource,
    kind: str,
    name: str,
    section: str | None,
    gateways: GatewayLookup,
    ancestors: dict[ParentRefStatus, tuple[Condition, ...]],
    generation: int,
) -> None:
    key = ResourceKey(group=GROUP, kind=kind, namespace=policy.key.namespace, name=name)
    route = reader.get(key)
    if route is None or not isinstance(route.model, HTTPRoute | GRPCRoute):
        return
    winner = _winner(reader, policy, kind, name, section)
    for parent in route.model.spec.parent_refs:
        gateway = gateway_key(key, parent)
        if gateway is None or gateways(reader, gateway) is None:
            continue
        ref = _ancestor(gateway, parent.section_name)
        if ref in ancestors:
            continue
        if section is not None:
            message = f"sectionName {section} of a {kind} is not supported: egd applies policies to whole routes"
            ancestors[ref] = (condition("Accepted", False, "Invalid", message, generation),)
        elif not winner:
            message = f"Unable to target {kind} {name}, another BackendTrafficPolicy has already attached to it"
            ancestors[ref] = (condition("Accepted", False, "Conflicted", message, generation),)
        else:
            ancestors[ref] = (_accepted(generation),)
