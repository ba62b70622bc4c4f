"""BackendTrafficPolicy -> IR: what the winning policies of a route (its own, its listener's, its Gateway's)
set on it. Each feature comes from the most specific policy that sets it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from projections import ir
from projections.gatewayapi.inputs import Resource
from projections.resources.envoygateway import BackendTrafficPolicy
from projections.resources.envoygateway.ratelimit import RateLimitRule, RateLimitSpec

BTP = "BackendTrafficPolicy"


def effective_rate_limit(candidates: Sequence[Resource]) -> ir.RateLimit | None:
    """The rate limit of the most specific policy that has one (`candidates`: route, listener, Gateway)."""
    for policy in candidates:
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
