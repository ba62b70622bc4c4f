"""The policy kinds egd attaches, and what each may target (see `policies` for how a new kind plugs in)."""

from __future__ import annotations

import msgspec

from projections.resources.envoygateway import GROUP as EG_GROUP
from projections.resources.envoygateway import (
    BackendTrafficPolicy,
    ClientTrafficPolicy,
    EnvoyExtensionPolicy,
    SecurityPolicy,
)
from projections.resources.gatewayapi import GROUP, BackendTLSPolicy
from projections.resources.policy import LocalPolicyTargetReferenceWithSectionName, TargetSelector

GATEWAY = (GROUP, "Gateway")
HTTP_ROUTE = (GROUP, "HTTPRoute")
GRPC_ROUTE = (GROUP, "GRPCRoute")
SERVICE = ("", "Service")
BACKEND = (EG_GROUP, "Backend")
ROUTE_TARGETS = (HTTP_ROUTE, GRPC_ROUTE)


class PolicyKind(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    model: type[msgspec.Struct]
    targets: tuple[tuple[str, str], ...]  # (group, kind) of the objects it may target
    plural: str  # as Envoy Gateway's messages spell it: `backendTrafficPolicies`
    http_only: bool = False  # applies to HTTP routes only: a Gateway or listener without HTTP is not a valid target
    rule_plural: str = ""  # how Envoy Gateway's message for a route overridden by its rules spells it (else plural)

    def __post_init__(self) -> None:
        if not self.rule_plural:
            msgspec.structs.force_setattr(self, "rule_plural", self.plural)


KINDS: dict[str, PolicyKind] = {
    k.kind: k
    for k in (
        PolicyKind(
            kind="BackendTrafficPolicy",
            model=BackendTrafficPolicy,
            targets=(GATEWAY, *ROUTE_TARGETS),
            plural="backendTrafficPolicies",
            rule_plural="backendTrafficPolicy",
        ),
        PolicyKind(
            kind="ClientTrafficPolicy", model=ClientTrafficPolicy, targets=(GATEWAY,), plural="clientTrafficPolicies"
        ),
        PolicyKind(
            kind="SecurityPolicy",
            model=SecurityPolicy,
            targets=(GATEWAY, *ROUTE_TARGETS),
            plural="securityPolicies",
            http_only=True,
        ),
        PolicyKind(
            kind="EnvoyExtensionPolicy",
            model=EnvoyExtensionPolicy,
            targets=(GATEWAY, *ROUTE_TARGETS),
            plural="envoyExtensionPolicies",
        ),
        PolicyKind(
            kind="BackendTLSPolicy", model=BackendTLSPolicy, targets=(SERVICE, BACKEND), plural="backendTLSPolicies"
        ),
    )
}
ROUTE_POLICY_KINDS = tuple(k.kind for k in KINDS.values() if HTTP_ROUTE in k.targets)

POLICY_KINDS = frozenset(KINDS)


def target_refs(model: msgspec.Struct) -> tuple[LocalPolicyTargetReferenceWithSectionName, ...]:
    """`targetRef` and `targetRefs` of any policy as one list."""
    spec = getattr(model, "spec", None)
    single = getattr(spec, "target_ref", None)
    if single is not None:
        return (single,)
    refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...] = getattr(spec, "target_refs", ())
    return refs


def target_selectors(model: msgspec.Struct) -> tuple[TargetSelector, ...]:
    selectors: tuple[TargetSelector, ...] = getattr(getattr(model, "spec", None), "target_selectors", ())
    return selectors
