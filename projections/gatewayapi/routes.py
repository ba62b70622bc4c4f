"""One route (HTTP, gRPC, TLS, TCP, UDP) -> its status per parent and what it adds to each listener.

A route's result depends on the route, its parents' listeners, and what its backends resolve to; it never
looks at other routes, so a change to one route re-translates that route only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.attachment import Attached, Refusal, accepting_listeners, attach, gateway_key
from projections.gatewayapi.backends import Problem, Target, resolve_backend, via_cluster_ip
from projections.gatewayapi.backendtraffic import (
    BTP,
    RouteTraffic,
    check_backend_traffic,
    cluster_variants,
    rate_limit_of,
    route_traffic,
)
from projections.gatewayapi.extensions import KIND as EXTENSION
from projections.gatewayapi.extensions import route_extensions
from projections.gatewayapi.gateways import GatewayContext
from projections.gatewayapi.http import CompiledRoute, RankedRoute, compile_grpc_route, compile_http_route, rule_index
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.policies import GatewayPolicies, RoutePolicies, gateway_policies, route_policies
from projections.gatewayapi.policykinds import ROUTE_POLICY_KINDS
from projections.gatewayapi.security import KIND as SECURITY
from projections.gatewayapi.security import route_security
from projections.gatewayapi.status import (
    CONTROLLER_NAME,
    Condition,
    ParentRefStatus,
    RouteParentStatus,
    RouteStatus,
    condition,
)
from projections.resources.gatewayapi import (
    GRPCRoute,
    HTTPRoute,
    ParentReference,
    TCPRoute,
    TLSRoute,
    UDPRoute,
)

ROUTE_KINDS = ("GRPCRoute", "HTTPRoute", "TCPRoute", "TLSRoute", "UDPRoute")
_MODELS: dict[str, type[msgspec.Struct]] = {
    "GRPCRoute": GRPCRoute,
    "HTTPRoute": HTTPRoute,
    "TCPRoute": TCPRoute,
    "TLSRoute": TLSRoute,
    "UDPRoute": UDPRoute,
}

GatewayLookup = Callable[[Reader, ResourceKey], GatewayContext | None]


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    """What a route adds to one listener of one Gateway."""

    gateway: ResourceKey
    listener: str
    http: tuple[RankedRoute, ...] = ()
    l4: ir.L4Route | None = None
    destinations: tuple[str, ...] = ()
    variants: tuple[ir.ClusterVariant, ...] = ()  # clusters with a BackendTrafficPolicy's settings


class RouteResult(msgspec.Struct, frozen=True, kw_only=True):
    key: ResourceKey
    status: RouteStatus | None  # None when no parent is ours
    attachments: tuple[Attachment, ...] = ()
    targets: tuple[Target, ...] = ()
    policies: tuple[ResourceKey, ...] = ()  # the route's and its rules' own policies, when it attaches
    merging: tuple[str, ...] = ()  # the kinds whose own policy is merged onto the Gateway's (`mergeType`)


def translate_route(reader: Reader, key: ResourceKey, gateways: GatewayLookup) -> RouteResult | None:
    """The route at `key` translated against its parents; None when it does not exist."""
    resource = reader.get(key)
    model_type = _MODELS.get(key.kind)
    if resource is None or model_type is None or not isinstance(resource.model, model_type):
        return None
    route = resource.model
    generation = resource.generation
    compiled, hostnames = _compile(reader, key, route, resource.age_rank)
    own: dict[str, Resource] = {}
    rules: dict[str, dict[str, Resource]] = {}
    if compiled.routes:
        labels: dict[str, str] = route.metadata.labels  # type: ignore[attr-defined]
        own, rules = route_policies(reader, key, labels, [n for n in compiled.rule_names if n is not None])
    parents: list[RouteParentStatus] = []
    attachments: list[Attachment] = []
    policy_targets: set[Target] = set()  # the backends of the routes' policies (ext_authz, ext_proc)
    merging: set[str] = set()
    built: BuiltParts = {}
    # parents alike get the same conditions: made once, shared
    conditions: dict[tuple[str, str], tuple[Condition, Condition]] = {}
    resolved = _resolved_condition(compiled, generation)
    # without policies of its own, the route is translated once for parents alike (`_ParentShape`) and copied
    alike: dict[int, tuple[_ParentShape, _ForParent]] = {}  # by the shape's identity (kept alive here)
    sharable = bool(compiled.routes) and compiled.unsupported is None and not own and not rules
    parent_refs: tuple[ParentReference, ...] = route.spec.parent_refs  # type: ignore[attr-defined]
    for ref in parent_refs:
        target = gateway_key(key, ref)
        if target is None:
            continue
        gateway = gateways(reader, target)
        if gateway is None:
            continue
        if sharable:
            shape = reader.shared(
                ("parent shape", target, ref.section_name, ref.port, key.kind, key.namespace),
                _parent_shape,
                gateway,
                ref,
                key,
            )
            done = alike.get(id(shape))
            if done is None:
                done = alike[id(shape)] = (shape, _for_parent(reader, key, ref, gateway, compiled, hostnames, built))
            result = done[1]
            if result.attachments and result.attachments[0].gateway != target:
                result = msgspec.structs.replace(
                    result,
                    attachments=tuple(msgspec.structs.replace(a, gateway=target) for a in result.attachments),
                )
        else:
            result = _for_parent(reader, key, ref, gateway, compiled, hostnames, built, own, rules)
        pair = conditions.get(result.outcome)
        if pair is None:
            reason, message = result.outcome
            accepted = condition("Accepted", result.outcome == _ACCEPTED, reason, message, generation)
            pair = conditions[result.outcome] = (accepted, resolved)
        parents.append(
            RouteParentStatus(
                parent_ref=ParentRefStatus(
                    group=ref.group,
                    kind=ref.kind,
                    name=ref.name,
                    namespace=ref.namespace,
                    section_name=ref.section_name,
                    port=ref.port,
                ),
                controller_name=CONTROLLER_NAME,
                conditions=pair,
            )
        )
        attachments.extend(result.attachments)
        policy_targets.update(result.reached)
        merging.update(result.merging)
    targets = tuple(sorted({*compiled.targets, *policy_targets})) if policy_targets else compiled.targets
    mine = {p.key for p in own.values()} | {p.key for found in rules.values() for p in found.values()}
    programmed = bool(attachments) and compiled.unsupported is None
    return RouteResult(
        key=key,
        status=RouteStatus(parents=tuple(parents)) if parents else None,
        attachments=_merged(attachments),
        targets=targets if programmed else (),
        policies=tuple(sorted(mine)) if programmed else (),
        merging=tuple(sorted(merging)) if programmed else (),
    )


_ACCEPTED = ("Accepted", "Route is accepted")


class _ForParent(msgspec.Struct, frozen=True, kw_only=True):
    """A route translated for one parentRef."""

    outcome: tuple[str, str]  # the reason and message of its Accepted condition (`_ACCEPTED` when accepted)
    attachments: tuple[Attachment, ...] = ()
    reached: tuple[Target, ...] = ()  # the backends of its policies, and of Services' cluster IPs
    merging: tuple[str, ...] = ()  # the kinds whose own policy is merged onto the Gateway's


def _for_parent(
    reader: Reader,
    key: ResourceKey,
    ref: ParentReference,
    gateway: GatewayContext,
    compiled: CompiledRoute,
    hostnames: tuple[str, ...] | None,
    built: BuiltParts,
    own: dict[str, Resource] | None = None,
    rules: dict[str, dict[str, Resource]] | None = None,
) -> _ForParent:
    """The route at `key` translated for one parentRef, to `gateway`; `own` and `rules` are its and its rules'
    policies. `built` keeps what its rules gave other listeners (see `_attachment`)."""
    attached = attach(reader, key, ref, gateway, hostnames)
    if compiled.unsupported is not None:
        # not programmed, yet attached to its listeners: Gateway API counts it in their attachedRoutes
        counted = () if isinstance(attached, Refusal) else attached
        return _ForParent(
            outcome=("UnsupportedValue", compiled.unsupported.message),
            attachments=tuple(Attachment(gateway=gateway.key, listener=one.listener.name) for one in counted),
        )
    if isinstance(attached, Refusal):
        return _ForParent(outcome=(attached.reason, attached.message))
    outcome = _ACCEPTED
    if compiled.rejected is not None:
        outcome = (compiled.rejected.reason, compiled.rejected.message)
    own, rules = own or {}, rules or {}
    policies = RoutePolicies(own=own, rules=rules)
    if compiled.routes and attached:
        on_gateway = reader.shared(("gateway policies", gateway.key), _gateway_route_policies, gateway.key)
        policies = RoutePolicies(own=own, rules=rules, gateway=on_gateway)
    attachments = []
    reached: set[Target] = set()
    merging: set[str] = set()
    for one in attached:
        if own or rules:  # else nothing of the route's own to merge
            merging.update(k for k in ROUTE_POLICY_KINDS if policies.merges(k, one.listener.name))
        attachment, found = _attachment(reader, key, gateway.key, one, compiled, policies, built)
        reached.update(found)
        attachments.append(attachment)
    return _ForParent(
        outcome=outcome,
        attachments=tuple(attachments),
        reached=tuple(sorted(reached)),
        merging=tuple(sorted(merging)),
    )


class _ParentShape(msgspec.Struct, frozen=True, kw_only=True):
    """How a parent (a Gateway, through one parentRef) treats the routes of one kind and namespace without
    policies of their own: the listeners that accept them, with their hostnames and the settings the Gateway's
    policies give such routes there; or why none accepts them. What a route gets from a parent follows from its
    shape: parents alike (Gateways set up alike) get one shape object (`Reader.alike`), so that a route attached
    to many of them is translated for the first and copied for the others."""

    accepting: tuple[tuple[str, str | None, _Settings], ...] | Refusal  # (listener, its hostname, settings)


def _parent_shape(reader: Reader, gateway: GatewayContext, ref: ParentReference, route: ResourceKey) -> _ParentShape:
    accepting = accepting_listeners(reader, route, ref, gateway)
    if isinstance(accepting, Refusal):
        return reader.alike(_ParentShape(accepting=accepting))
    on_gateway = reader.shared(("gateway policies", gateway.key), _gateway_route_policies, gateway.key)
    policies = RoutePolicies(gateway=on_gateway)
    listeners = tuple(
        (listener.name, listener.hostname, _rule_settings(reader, gateway.key, listener.name, policies, None))
        for listener in accepting
    )
    return reader.alike(_ParentShape(accepting=listeners))  # hashable: IR is


def _resolved_condition(compiled: CompiledRoute, generation: int) -> Condition:
    if compiled.unresolved:
        problem = compiled.unresolved[0]
        return condition("ResolvedRefs", False, problem.reason, problem.message, generation)
    return condition(
        "ResolvedRefs", True, "ResolvedRefs", "Resolved all the Object references for the Route", generation
    )


def _gateway_route_policies(reader: Reader, key: ResourceKey) -> dict[str, GatewayPolicies]:
    """The winning policies of the Gateway at `key` of every kind that targets routes (read once for all the
    routes attached to it: `Reader.shared`)."""
    return {kind: gateway_policies(reader, kind, key) for kind in ROUTE_POLICY_KINDS}


def _compile(
    reader: Reader, key: ResourceKey, route: msgspec.Struct, age: tuple[float, str]
) -> tuple[CompiledRoute, tuple[str, ...] | None]:
    """The route's rules translated once, whatever listeners it attaches to; with the hostnames to intersect
    (None for kinds without hostnames). `age` ranks it among rival routes (`Resource.age_rank`)."""
    if isinstance(route, HTTPRoute):
        return compile_http_route(reader, key, route, age), route.spec.hostnames
    if isinstance(route, GRPCRoute):
        return compile_grpc_route(reader, key, route, age), route.spec.hostnames
    assert isinstance(route, TLSRoute | TCPRoute | UDPRoute)
    backends: list[ir.WeightedBackend] = []
    unresolved: list[Problem] = []
    targets: set[Target] = set()
    invalid = 0
    for rule in route.spec.rules:
        for ref in rule.backend_refs:
            resolved = resolve_backend(reader, key, ref)
            if isinstance(resolved, Problem):
                unresolved.append(resolved)
                invalid += ref.weight
                continue
            targets.add(resolved)
            if ref.weight > 0:
                backends.append(ir.WeightedBackend(destination=resolved.name, weight=ref.weight))
    template = ir.L4Route(
        name=f"{key.kind.lower()}/{key.namespace}/{key.name}", backends=tuple(backends), invalid_backend_weight=invalid
    )
    compiled = CompiledRoute(l4=template, unresolved=tuple(unresolved), targets=tuple(sorted(targets)))
    return compiled, route.spec.hostnames if isinstance(route, TLSRoute) else None


def _attachment(
    reader: Reader,
    key: ResourceKey,
    gateway: ResourceKey,
    attached: Attached,
    compiled: CompiledRoute,
    policies: RoutePolicies,
    built: BuiltParts,
) -> tuple[Attachment, tuple[Target, ...]]:
    """What the route adds to one listener, with the backends it reaches through Services' cluster IPs and its
    policies' (ext_authz, ext_proc); `built` keeps what the route's rules gave other listeners, by their settings
    and hostnames."""
    if compiled.l4 is not None:
        l4 = ir.hashed(
            msgspec.structs.replace(compiled.l4, sni_hostnames=tuple(h for h in attached.hostnames if h != "*"))
        )
        destinations = {b.destination for b in l4.backends}
        attachment = Attachment(
            gateway=gateway, listener=attached.listener.name, l4=l4, destinations=tuple(sorted(destinations))
        )
        return attachment, ()
    # the rules with policies of their own get their own settings; the others share the route's
    settings: dict[str | None, _Settings] = {}
    groups = []
    for ranked in compiled.routes:
        name = compiled.rule_names[rule_index(ranked.rank)]
        group = name if name is not None and name in policies.rules else None
        if group not in settings:
            settings[group] = _rule_settings(reader, gateway, attached.listener.name, policies, group)
        groups.append(group)
    slot = (tuple(settings.items()), attached.hostnames)
    parts = built.get(slot)
    if parts is None:  # else the same as for another listener (often of another Gateway)
        parts = built[slot] = _http_parts(compiled, settings, groups, attached.hostnames)
    attachment = Attachment(
        gateway=gateway,
        listener=attached.listener.name,
        http=parts.http,
        destinations=parts.destinations,
        variants=parts.variants,
    )
    return attachment, parts.reached


BuiltParts = dict[tuple[tuple[tuple[str | None, "_Settings"], ...], tuple[str, ...]], "_HTTPParts"]
"""What a route's rules gave the listeners translated so far, by their settings and hostnames."""


class _HTTPParts(msgspec.Struct, frozen=True, kw_only=True):
    """What a route's rules add to a listener, given their settings and the listener's hostnames (`BuiltParts`)."""

    http: tuple[RankedRoute, ...]
    destinations: tuple[str, ...]
    variants: tuple[ir.ClusterVariant, ...]
    # the destinations through Services' cluster IPs (routingType Service), and the backends of the settings'
    # policies (ext_authz, ext_proc)
    reached: tuple[Target, ...]


def _http_parts(
    compiled: CompiledRoute, settings: dict[str | None, _Settings], groups: list[str | None], hostnames: tuple[str, ...]
) -> _HTTPParts:
    """The routes of `compiled` with the `settings` of their `groups` (one per route) for each of `hostnames`."""
    destinations: set[str] = set()
    variants: dict[str, ir.ClusterVariant] = {}
    targets: set[Target] = set()
    templates = []
    for ranked, group in zip(compiled.routes, groups, strict=True):
        found = settings[group]
        destinations.update(found.destinations)
        route = msgspec.structs.replace(
            ranked.route, rate_limit=found.rate_limit, security=found.security, extensions=found.extensions
        )
        if found.fail_closed:
            route = answering_500(route)
        else:
            if found.traffic.service_routing:
                route = _through_cluster_ips(route, compiled.targets, targets)
            route = _with_traffic(route, found.traffic, variants)
        templates.append((ranked.rank, route))
        destinations.update(b.destination for b in route.backends)
        destinations.update(m.destination for m in route.mirrors)
    http = [
        RankedRoute(rank=rank, route=ir.hashed(msgspec.structs.replace(template, hostname=hostname)))
        for hostname in hostnames
        for rank, template in templates
    ]
    return _HTTPParts(
        http=tuple(http),
        destinations=tuple(sorted(destinations)),
        variants=tuple(variants[name] for name in sorted(variants)),
        reached=tuple(sorted({*targets, *(t for found in settings.values() for t in found.targets)})),
    )


class _Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What the winning policies set on the routes of one rule (or of every rule without policies of its own)."""

    rate_limit: ir.RateLimit | None = None
    traffic: RouteTraffic = RouteTraffic()
    security: ir.Security | None = None
    extensions: ir.Extensions | None = None
    fail_closed: bool = False
    targets: tuple[Target, ...] = ()
    destinations: tuple[str, ...] = ()  # of ext_authz and ext_proc


def _rule_settings(
    reader: Reader, gateway: ResourceKey, listener: str, policies: RoutePolicies, rule: str | None
) -> _Settings:
    """The settings of `rule`'s routes (None: the rules without policies of their own) on `listener`. Without
    route or rule policies, the Gateway's alone: read once for all such routes (`Reader.shared`)."""
    if policies.own or policies.rules:
        return _settings(reader, policies, listener, rule)
    return reader.shared(("route settings", gateway, listener), _settings, policies, listener, None)


def _settings(reader: Reader, policies: RoutePolicies, listener: str, rule: str | None) -> _Settings:
    security = route_security(reader, policies.candidates(SECURITY, listener, rule))
    extensions = route_extensions(reader, policies.candidates(EXTENSION, listener, rule))
    # the most specific BackendTrafficPolicy wins whole, as in Envoy Gateway (merged onto its parent's when it
    # says so: `mergeType`, see `RoutePolicies.candidates`)
    traffic = next(iter(policies.candidates(BTP, listener, rule)), None)
    honoured = traffic is not None and not check_backend_traffic(reader, traffic)
    # a SecurityPolicy or BackendTrafficPolicy that cannot be honoured, or an EnvoyExtensionPolicy part that does
    # not fail open: answer 500 rather than let everyone in (or skip the extension, or fall back to what the
    # policy replaces)
    fail_closed = (
        (security is not None and bool(security.problems))
        or (extensions is not None and extensions.fail_closed)
        or (traffic is not None and not honoured)
    )
    granted = security.security if security is not None else None
    extended = extensions.extensions if extensions is not None else None
    destinations: set[str] = set()
    if granted is not None and granted.ext_auth is not None:
        destinations.add(granted.ext_auth.destination)
    if extended is not None and not fail_closed:
        destinations.update(e.destination for e in extended.ext_procs)
    if granted is not None and granted.jwt is not None:
        destinations.update(p.remote_jwks_destination for p in granted.jwt.providers if p.remote_jwks_destination)
    return _Settings(
        rate_limit=rate_limit_of(traffic) if traffic is not None and honoured else None,
        traffic=route_traffic(reader, traffic) if traffic is not None and honoured else RouteTraffic(),
        security=granted,
        extensions=extended,
        fail_closed=fail_closed,
        targets=tuple(t for found in (security, extensions) if found is not None for t in found.targets),
        destinations=tuple(sorted(destinations)),
    )


def _with_traffic(route: ir.HTTPRoute, traffic: RouteTraffic, variants: dict[str, ir.ClusterVariant]) -> ir.HTTPRoute:
    """`route` with what BackendTrafficPolicies set on it; the cluster variants its backends need go to
    `variants`."""
    if traffic == _NO_TRAFFIC:
        return route
    request_timeout = traffic.request_timeout_ms
    if route.timeouts is not None and route.timeouts.request_ms is not None:
        request_timeout = None  # the route's own timeout wins
    settings_id = None
    if traffic.cluster is not None and route.backends:
        settings_id, found = cluster_variants(traffic.cluster, [b.destination for b in route.backends], route.grpc)
        variants.update((v.name, v) for v in found)
    return msgspec.structs.replace(
        route,
        retry=traffic.retry,
        fault=traffic.fault,
        hash_policy=traffic.hash_policy,
        request_timeout_ms=request_timeout,
        max_stream_duration_ms=traffic.max_stream_duration_ms,
        cluster_settings=settings_id,
        compression=traffic.compression,
        response_override=traffic.response_override,
        request_buffer_bytes=traffic.request_buffer_bytes,
        upgrades=traffic.upgrades,
        bandwidth_limit=traffic.bandwidth_limit,
        response_headers=_removing(route.response_headers, traffic.remove_response_headers),
        filters=tuple(sorted({*route.filters, *traffic.filters})),
    )


def _through_cluster_ips(route: ir.HTTPRoute, resolved: Sequence[Target], targets: set[Target]) -> ir.HTTPRoute:
    """`route` sending to its Services' cluster IPs (routingType Service); the destinations that takes go to
    `targets`. Backends that are not Services (Envoy Gateway Backends) keep their endpoints."""
    services = {t.name: via_cluster_ip(t) for t in resolved if t.key.kind == "Service"}

    def destination(name: str) -> str:
        found = services.get(name)
        if found is None:
            return name
        targets.add(found)
        return found.name

    return msgspec.structs.replace(
        route,
        backends=tuple(msgspec.structs.replace(b, destination=destination(b.destination)) for b in route.backends),
        mirrors=tuple(msgspec.structs.replace(m, destination=destination(m.destination)) for m in route.mirrors),
    )


def _removing(headers: ir.HeaderModifier | None, names: tuple[str, ...]) -> ir.HeaderModifier | None:
    """`headers` that also remove `names` from responses."""
    if not names:
        return headers
    modifier = headers or ir.HeaderModifier()
    return msgspec.structs.replace(modifier, remove=(*modifier.remove, *(n for n in names if n not in modifier.remove)))


_DENIED = ir.DirectResponse(status=500)


def answering_500(route: ir.HTTPRoute) -> ir.HTTPRoute:
    """`route` failing closed: a policy it needs cannot be honoured, so it answers 500 instead of its action."""
    return msgspec.structs.replace(
        route, backends=(), invalid_backend_weight=0, mirrors=(), redirect=None, direct_response=_DENIED
    )


_NO_TRAFFIC = RouteTraffic()


def _merged(attachments: list[Attachment]) -> tuple[Attachment, ...]:
    """One attachment per (gateway, listener), in a stable order: two parentRefs may name the same listener."""
    merged: dict[tuple[ResourceKey, str], Attachment] = {}
    for attachment in attachments:
        slot = (attachment.gateway, attachment.listener)
        if slot not in merged:
            merged[slot] = attachment
    return tuple(merged[slot] for slot in sorted(merged))
