"""Policy attachment: how an Envoy Gateway policy names the objects it applies to.

A policy targets objects in its own namespace by reference (`targetRef`, deprecated, or `targetRefs`, each
optionally narrowed to a listener or rule by `sectionName`) or by label (`targetSelectors`).
"""

from __future__ import annotations

from typing import Protocol

from projections.resources.meta import K8sModel, LabelSelector

GATEWAY_API_GROUP = "gateway.networking.k8s.io"


class LocalPolicyTargetReference(K8sModel, frozen=True, kw_only=True):
    """An object in the policy's namespace."""

    group: str
    kind: str
    name: str


class LocalPolicyTargetReferenceWithSectionName(LocalPolicyTargetReference, frozen=True, kw_only=True):
    """An object in the policy's namespace, or one section of it (a Gateway listener, a route rule)."""

    section_name: str | None = None


class TargetSelector(LabelSelector, frozen=True, kw_only=True):
    """Every object of `kind` in the policy's namespace whose labels match (`matchLabels`, `matchExpressions`)."""

    kind: str
    group: str = GATEWAY_API_GROUP


class PolicyTargets(Protocol):
    """What every policy spec has, whether it inherits `PolicyTargetReferences` or declares the fields itself."""

    @property
    def target_ref(self) -> LocalPolicyTargetReferenceWithSectionName | None: ...
    @property
    def target_refs(self) -> tuple[LocalPolicyTargetReferenceWithSectionName, ...]: ...
    @property
    def target_selectors(self) -> tuple[TargetSelector, ...]: ...


def check_policy_targets(spec: PolicyTargets) -> None:
    """Envoy Gateway's rule: a policy targets by `targetRef`, or by `targetRefs` and/or `targetSelectors`."""
    if spec.target_ref is None and not spec.target_refs and not spec.target_selectors:
        raise ValueError("a policy needs targetRef, targetRefs or targetSelectors")
    if spec.target_ref is not None and spec.target_refs:
        raise ValueError("use either targetRef or targetRefs, not both")


class PolicyTargetReferences(K8sModel, frozen=True, kw_only=True):
    """The targeting fields Envoy Gateway's policies share (inlined in their specs)."""

    target_ref: LocalPolicyTargetReferenceWithSectionName | None = None
    target_refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...] = ()
    target_selectors: tuple[TargetSelector, ...] = ()

    def __post_init__(self) -> None:
        check_policy_targets(self)
