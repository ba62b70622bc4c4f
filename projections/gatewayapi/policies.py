"""Policy attachment, for every policy kind: which policy applies to a Gateway, listener, route or backend,
and each policy's status.

A policy targets objects of its own namespace by `targetRef(s)` (optionally one section: a Gateway's listener
by `sectionName`, a Service's port by name) or by `targetSelectors` (labels). Which kinds of object a policy
may target is its `PolicyKind.targets`. The most specific policy wins, as Envoy Gateway does: the route's own
policy, then its listener's, then its Gateway's (`RoutePolicies.candidates`). Two policies of one kind on the
same target and section: the oldest wins (its first event since it last did not exist), then the first by
name, as Envoy Gateway orders them; the other is `Conflicted`.

Policy status is Envoy Gateway's: one `ancestors[]` entry per Gateway the policy reaches (with the listener's
`sectionName` when it targets one, or the route's parentRef; for a backend target, each Gateway whose routes
use it), `Accepted` True, or False with `Conflicted`, `TargetNotFound` or `Invalid` (the kind's check found
something it cannot honour: then the policy applies nowhere); and `Overridden` on a Gateway-level policy when
routes or listeners have their own.

How a new policy kind plugs in:
  1. add a `PolicyKind` to `KINDS` below (its model class and the (group, kind) pairs it may target); its
     objects are then indexed by target (`inputs.POLICY_KINDS` is `KINDS`'s keys), get a `policy` unit in the
     translator and a status;
  2. where the policy takes effect, read the winners: `route_policies(reader, key, labels, rules)` and
     `gateway_policies(reader, kind, gateway)` for routes and listeners (a route unit reads them, so a policy
     change re-translates exactly the routes it reaches), or `backend_policy(...)` for a Service or Backend;
  3. optionally a check (`PolicyHooks.checks[kind]`): what in a policy cannot be honoured, read through the
     same reader (so that a missing Secret arriving later wakes the policy up); the status says why and the
     code that applies the policy must skip it (use `honoured`).
     A target check (`PolicyHooks.target_checks[kind]`) does the same for one Gateway target (the Gateway, or
     one listener): the policy is then `Invalid` on that ancestor only, and skipped there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from events.keys import ResourceKey
from projections.gatewayapi.attachment import gateway_key
from projections.gatewayapi.gateways import GatewayContext, ListenerContext
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.merging import MERGE_TYPES, merge_type, merged_policy
from projections.gatewayapi.policykinds import (
    GATEWAY,
    KINDS,
    ROUTE_POLICY_KINDS,
    ROUTE_TARGETS,
    PolicyKind,
    target_refs,
    target_selectors,
)
from projections.gatewayapi.status import (
    CONTROLLER_NAME,
    Condition,
    ParentRefStatus,
    PolicyAncestorStatus,
    PolicyStatus,
    condition,
)
from projections.resources.gatewayapi import GROUP, GRPCRoute, HTTPRoute
from projections.resources.policy import TargetSelector

GatewayLookup = Callable[[Reader, ResourceKey], GatewayContext | None]


class Overriding(msgspec.Struct, frozen=True, kw_only=True):
    """A route with a policy of its own (on the route or one of its rules): the listeners of one Gateway it
    attaches to, and whether its policy is merged onto the Gateway's (`mergeType`) rather than replacing it."""

    listeners: tuple[str, ...]
    merged: bool = False


# (policy kind, gateway) -> {route: how it overrides} for the routes that have a policy of their own
OverridesLookup = Callable[[Reader, str, ResourceKey], Mapping[ResourceKey, Overriding]]
# a Service or Backend -> the Gateways whose routes use it
BackendUsersLookup = Callable[[Reader, ResourceKey], Sequence[ResourceKey]]
# what in a policy cannot be honoured (empty: everything can)
Check = Callable[[Reader, Resource], tuple[str, ...]]
# what in a policy cannot be honoured on one Gateway target (the Gateway, or its listener `section`)
TargetCheck = Callable[[Resource, GatewayContext, str | None], tuple[str, ...]]


@dataclass(frozen=True)
class PolicyHooks:
    """What a policy's status needs from the translator's other units, read through their tokens."""

    gateways: GatewayLookup
    overrides: OverridesLookup
    backend_users: BackendUsersLookup
    checks: Mapping[str, Check] = field(default_factory=dict)
    target_checks: Mapping[str, TargetCheck] = field(default_factory=dict)


class GatewayPolicies(msgspec.Struct, frozen=True, kw_only=True):
    """The winning policies of one kind on one Gateway: for the whole Gateway, and per listener."""

    gateway: Resource | None = None
    listeners: dict[str, Resource] = {}

    def candidates(self, listener: str) -> tuple[Resource, ...]:
        """The policies that apply to `listener`, most specific first."""
        return tuple(p for p in (self.listeners.get(listener), self.gateway) if p is not None)


class RoutePolicies(msgspec.Struct, frozen=True, kw_only=True):
    """What a route attachment reads: the route's own policies (by kind), its rules' (by rule name, then kind)
    and its Gateway's (by kind)."""

    own: dict[str, Resource] = {}
    rules: dict[str, dict[str, Resource]] = {}
    gateway: dict[str, GatewayPolicies] = {}

    def candidates(self, kind: str, listener: str, rule: str | None = None) -> tuple[Resource, ...]:
        """The policies of `kind` that apply to the route's `rule` on `listener`, most specific first: the
        rule's, the route's, the listener's, the Gateway's. A route (or rule) policy with `mergeType` takes the
        place of itself and its parent (the listener's policy, else the Gateway's), merged onto it."""
        found = self.gateway.get(kind)
        rest = found.candidates(listener) if found is not None else ()
        own = tuple(p for p in (self.rules.get(rule or "", {}).get(kind), self.own.get(kind)) if p is not None)
        if own and rest and merge_type(own[0]) in MERGE_TYPES:
            return (merged_policy(own[0], rest[0]), *own[1:], *rest[1:])
        return (*own, *rest)

    def merges(self, kind: str, listener: str) -> bool:
        """Whether a policy of `kind` of the route or one of its rules is merged onto a parent on `listener`."""
        found = self.gateway.get(kind)
        if found is None or not found.candidates(listener):
            return False
        own = [self.own.get(kind), *(policies.get(kind) for policies in self.rules.values())]
        return any(p is not None and merge_type(p) in MERGE_TYPES for p in own)


def _labels(resource: Resource) -> dict[str, str]:
    labels = getattr(getattr(resource.model, "metadata", None), "labels", None)
    return labels if isinstance(labels, dict) else {}


def _selects(selector: TargetSelector, target: tuple[str, str], labels: dict[str, str]) -> bool:
    return (selector.group, selector.kind) == target and selector.matches(labels)


def targeting(
    reader: Reader, kind: PolicyKind, target: ResourceKey, labels: Callable[[], dict[str, str]]
) -> list[tuple[Resource, str | None]]:
    """(policy, sectionName) for every policy of `kind` that targets the object, in precedence order."""
    group_kind = (target.group, target.kind)
    found: set[tuple[ResourceKey, str | None]] = set()
    by_key: dict[ResourceKey, Resource] = {}
    for policy in reader.policies_naming(kind.kind, target.kind, target.namespace, target.name):
        if not isinstance(policy.model, kind.model):
            continue
        for ref in target_refs(policy.model):
            if (ref.group, ref.kind) == group_kind and ref.name == target.name:
                found.add((policy.key, ref.section_name))
                by_key[policy.key] = policy
    selecting = [p for p in reader.policies_selecting(kind.kind, target.namespace) if isinstance(p.model, kind.model)]
    if selecting:
        object_labels = labels()
        for policy in selecting:
            if any(_selects(s, group_kind, object_labels) for s in target_selectors(policy.model)):
                found.add((policy.key, None))
                by_key[policy.key] = policy
    if not found:
        return []
    # Envoy Gateway's order: the oldest first, then by name
    ordered = sorted(found, key=lambda f: (by_key[f[0]].age_rank, f[1] or ""))
    return [(by_key[key], section) for key, section in ordered]


def route_policies(
    reader: Reader, key: ResourceKey, labels: dict[str, str], rules: Sequence[str]
) -> tuple[dict[str, Resource], dict[str, dict[str, Resource]]]:
    """The winning policies of every kind that targets routes: the route's own (targets without sectionName),
    by kind, and its named `rules`' (targets whose sectionName is a rule's name), by rule name then kind."""
    own: dict[str, Resource] = {}
    by_rule: dict[str, dict[str, Resource]] = {}
    for kind in ROUTE_POLICY_KINDS:
        for policy, section in targeting(reader, KINDS[kind], key, lambda: labels):
            if section is None:
                own.setdefault(kind, policy)
            elif section in rules:
                by_rule.setdefault(section, {}).setdefault(kind, policy)
    return own, by_rule


def rule_names(route: Resource) -> tuple[str, ...]:
    """The names of an HTTPRoute's or GRPCRoute's rules (Gateway API's `rules[].name`)."""
    if not isinstance(route.model, HTTPRoute | GRPCRoute):
        return ()
    return tuple(rule.name for rule in route.model.spec.rules if rule.name)


def gateway_policies(reader: Reader, kind: str, key: ResourceKey) -> GatewayPolicies:
    """The winning policies of `kind` of the Gateway at `key`."""

    def labels() -> dict[str, str]:
        gateway = reader.get(key)
        return _labels(gateway) if gateway is not None else {}

    whole: Resource | None = None
    listeners: dict[str, Resource] = {}
    for policy, section in targeting(reader, KINDS[kind], key, labels):
        if section is None:
            whole = whole or policy
        elif section not in listeners:
            listeners[section] = policy
    return GatewayPolicies(gateway=whole, listeners=listeners)


def backend_policy(reader: Reader, kind: str, key: ResourceKey, section: str | None) -> Resource | None:
    """The winning policy of `kind` for a Service (or Backend) at `key`: one naming its port `section`
    wins over one naming the whole object."""

    def labels() -> dict[str, str]:
        found = reader.get(key)
        return _labels(found) if found is not None else {}

    whole: Resource | None = None
    for policy, target_section in targeting(reader, KINDS[kind], key, labels):
        if target_section is not None and target_section == section:
            return policy
        if target_section is None:
            whole = whole or policy
    return whole


def honoured(reader: Reader, policy: Resource | None, checks: Mapping[str, Check]) -> Resource | None:
    """`policy` when its kind's check finds nothing it cannot honour."""
    if policy is None:
        return None
    check = checks.get(policy.key.kind)
    return policy if check is None or not check(reader, policy) else None


# --- status --------------------------------------------------------------------------------------------------


def _ancestor(gateway: ResourceKey, section: str | None) -> ParentRefStatus:
    return ParentRefStatus(
        group=GROUP, kind="Gateway", name=gateway.name, namespace=gateway.namespace, section_name=section
    )


def _accepted(generation: int) -> Condition:
    return condition("Accepted", True, "Accepted", "Policy has been accepted.", generation)


def policy_status(reader: Reader, key: ResourceKey, hooks: PolicyHooks) -> PolicyStatus | None:
    """The status of the policy at `key`; None when it does not exist or reaches no Gateway."""
    kind = KINDS.get(key.kind)
    resource = reader.get(key)
    if kind is None or resource is None or not isinstance(resource.model, kind.model):
        return None
    targets: list[tuple[str, str, str, str | None]] = [
        (ref.group, ref.kind, ref.name, ref.section_name)
        for ref in target_refs(resource.model)
        if (ref.group, ref.kind) in kind.targets
    ]
    for selector in target_selectors(resource.model):
        if (selector.group, selector.kind) in kind.targets:
            for found in reader.listed(selector.kind, key.namespace):
                if _selects(selector, (selector.group, selector.kind), _labels(found)):
                    targets.append((selector.group, selector.kind, found.key.name, None))
    check = hooks.checks.get(key.kind)
    problems = check(reader, resource) if check is not None else ()
    status = _Status(reader, kind, resource, hooks, problems)
    for group, target_kind, name, section in dict.fromkeys(targets):
        target = ResourceKey(group=group, kind=target_kind, namespace=key.namespace, name=name)
        if (group, target_kind) == GATEWAY:
            status.gateway_target(target, section)
        elif (group, target_kind) in ROUTE_TARGETS:
            status.route_target(target, section)
        else:
            status.backend_target(target, section)
    if not status.ancestors:
        return None
    return PolicyStatus(
        ancestors=tuple(
            PolicyAncestorStatus(ancestor_ref=ref, controller_name=CONTROLLER_NAME, conditions=conditions)
            for ref, conditions in status.ancestors.items()
        )
    )


class _Status:
    """The ancestors of one policy, filled target by target (the first word on an ancestor stays)."""

    def __init__(
        self, reader: Reader, kind: PolicyKind, policy: Resource, hooks: PolicyHooks, problems: tuple[str, ...]
    ) -> None:
        self.reader = reader
        self.kind = kind
        self.policy = policy
        self.hooks = hooks
        self.problems = problems
        self.generation = policy.generation
        self.ancestors: dict[ParentRefStatus, tuple[Condition, ...]] = {}

    def _winner(self, target: ResourceKey, section: str | None) -> bool:
        def labels() -> dict[str, str]:
            found = self.reader.get(target)
            return _labels(found) if found is not None else {}

        for other, other_section in targeting(self.reader, self.kind, target, labels):
            if other_section == section:
                return other.key == self.policy.key
        return True

    def _conflicted(self, what: str) -> tuple[Condition, ...]:
        message = f"Unable to target {what}, another {self.kind.kind} has already attached to it"
        return (condition("Accepted", False, "Conflicted", message, self.generation),)

    def _invalid(self, more: tuple[str, ...] = ()) -> tuple[Condition, ...] | None:
        problems = (*self.problems, *more)
        if not problems:
            return None
        return (condition("Accepted", False, "Invalid", "; ".join(problems), self.generation),)

    def gateway_target(self, key: ResourceKey, section: str | None) -> None:
        context = self.hooks.gateways(self.reader, key)
        if context is None:
            return  # Envoy Gateway: a target that does not exist gets no ancestor
        ref = _ancestor(key, section)
        if ref in self.ancestors:
            return
        if section is not None and context.listener(section) is None:
            message = f"No section name {section} found for Gateway {key.namespace}/{key.name}"
            self.ancestors[ref] = (condition("Accepted", False, "TargetNotFound", message, self.generation),)
            return
        if self.kind.http_only and not any(x.protocol in ("HTTP", "HTTPS") for x in _listeners(context, section)):
            why = (
                f"Gateway {key.name} has no HTTP or HTTPS listener"
                if section is None
                else f"Listener {section} is not HTTP or HTTPS"
            )
            message = f"A {self.kind.kind} applies to HTTP routes only: {why}"
            self.ancestors[ref] = (condition("Accepted", False, "Invalid", message, self.generation),)
            return
        if not self._winner(key, section):
            what = f"Gateway {key.name}" if section is None else f"Listener {key.namespace}/{key.name}/{section}"
            self.ancestors[ref] = self._conflicted(what)
            return
        target_check = self.hooks.target_checks.get(self.kind.kind)
        invalid = self._invalid(target_check(self.policy, context, section) if target_check is not None else ())
        if invalid is not None:
            self.ancestors[ref] = invalid
            return
        self.ancestors[ref] = (_accepted(self.generation), *self._overridden(key, section, context))

    def _overridden(self, key: ResourceKey, section: str | None, context: GatewayContext) -> tuple[Condition, ...]:
        """Merged and Overridden on a Gateway (or listener) policy: the routes whose own policies merge onto it
        (`mergeType`) or replace it; else the listeners with their own."""
        routes = {
            f"{route.namespace}/{route.name}": found.merged
            for route, found in self.hooks.overrides(self.reader, self.kind.kind, key).items()
            if section is None or section in found.listeners
        }
        merged = sorted(name for name, merging in routes.items() if merging)
        overridden = sorted(name for name, merging in routes.items() if not merging)
        conditions = []
        if merged:
            message = f"This policy is being merged by other {self.kind.plural} for these routes: [{' '.join(merged)}]"
            conditions.append(condition("Merged", True, "Merged", message, self.generation))
        if overridden:
            names = " ".join(overridden)
            message = f"This policy is being overridden by other {self.kind.plural} for these routes: [{names}]"
            conditions.append(condition("Overridden", True, "Overridden", message, self.generation))
        elif section is None and not merged:
            sections = sorted(
                name
                for name in gateway_policies(self.reader, self.kind.kind, key).listeners
                if context.listener(name) is not None  # a policy naming no listener of it overrides nothing
            )
            if sections:
                kinds = self.kind.kind.removesuffix("y") + "ies"
                message = f"There are existing {kinds} that are overriding these sections [{' '.join(sections)}]"
                conditions.append(condition("Overridden", True, "Overridden", message, self.generation))
        return tuple(conditions)

    def route_target(self, key: ResourceKey, section: str | None) -> None:
        """A route, or one of its rules (`section` = the rule's name): one ancestor per parentRef's Gateway."""
        route = self.reader.get(key)
        if route is None or not isinstance(route.model, HTTPRoute | GRPCRoute):
            return
        rules = rule_names(route)
        missing = section is not None and section not in rules
        winner = not missing and self._winner(key, section)
        merges = winner and not self.problems and merge_type(self.policy) in MERGE_TYPES
        for parent in route.model.spec.parent_refs:
            gateway = gateway_key(key, parent)
            if gateway is None or self.hooks.gateways(self.reader, gateway) is None:
                continue
            ref = _ancestor(gateway, parent.section_name)
            if ref in self.ancestors and self.ancestors[ref][-1].type != "Merged":
                continue
            if missing:
                message = f"No section name {section} found for {key.kind} {key.namespace}/{key.name}"
                self.ancestors[ref] = (condition("Accepted", False, "TargetNotFound", message, self.generation),)
            elif not winner:
                what = f"{key.kind} {key.name}" if section is None else f"RouteRule {key.name}/{section}"
                self.ancestors[ref] = self._conflicted(what)
            elif self.problems:
                self.ancestors[ref] = self._invalid() or ()
            else:
                if merges:
                    self._merged(key, gateway, parent.section_name)
                overridden = self._rules_overriding(key, rules) if section is None else ()
                self.ancestors[ref] = (*self.ancestors.get(ref, ()), _accepted(self.generation), *overridden)

    def _merged(self, route: ResourceKey, gateway: ResourceKey, section: str | None) -> None:
        """Merged on the listeners (of `gateway`, through a parentRef naming `section` or every listener) where
        the policy is merged onto a parent policy, as Envoy Gateway reports it: one ancestor per listener."""
        found = self.hooks.overrides(self.reader, self.kind.kind, gateway).get(route)
        if found is None:
            return
        parents = gateway_policies(self.reader, self.kind.kind, gateway)
        for listener in found.listeners:
            candidates = parents.candidates(listener)
            if (section is not None and listener != section) or not candidates:
                continue
            parent = candidates[0].key
            message = f"Merged with policy {parent.namespace}/{parent.name}"
            merged = condition("Merged", True, "Merged", message, self.generation)
            self.ancestors[_ancestor(gateway, listener)] = (merged,)

    def _rules_overriding(self, route: ResourceKey, rules: tuple[str, ...]) -> tuple[Condition, ...]:
        """Overridden on a route's policy when rules of the route have policies of the same kind."""

        def labels() -> dict[str, str]:
            found = self.reader.get(route)
            return _labels(found) if found is not None else {}

        named = sorted({s for _, s in targeting(self.reader, self.kind, route, labels) if s is not None and s in rules})
        if not named:
            return ()
        names = " ".join(named)
        message = f"This policy is being overridden by other {self.kind.rule_plural} for these RouteRules: [{names}]"
        return (condition("Overridden", True, "Overridden", message, self.generation),)

    def backend_target(self, key: ResourceKey, section: str | None) -> None:
        if self.reader.get(key) is None:
            return
        winner = self._winner(key, section)
        for gateway in self.hooks.backend_users(self.reader, key):
            ref = _ancestor(gateway, None)
            if ref in self.ancestors:
                continue
            if not winner:
                what = f"{key.kind} {key.name}" if section is None else f"{key.kind} {key.name} port {section}"
                self.ancestors[ref] = self._conflicted(what)
            else:
                self.ancestors[ref] = self._invalid() or (_accepted(self.generation),)


def _listeners(context: GatewayContext, section: str | None) -> tuple[ListenerContext, ...]:
    """The listeners a policy targeting `context`'s Gateway (and `section`, known to exist) applies to."""
    found = context.listener(section) if section is not None else None
    return (found,) if found is not None else context.listeners
