"""EnvoyPatchPolicy: the JSON patches each Gateway's generated xDS gets, and each policy's status.

A policy targets a Gateway of its namespace (`targetRef`); its operations apply in the order of
`spec.priority`, then the policy's name, then their order in the policy. Whether they apply cleanly is only
known once the xDS is generated: that stage reports it (`Programmed`), this one says whether the policy is
accepted (`Accepted`: False with `Disabled` unless enabled, `Invalid` for what egd does not support).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.gateways import GatewayContext
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.status import (
    CONTROLLER_NAME,
    Condition,
    ParentRefStatus,
    PolicyAncestorStatus,
    PolicyStatus,
    Status,
    condition,
)
from projections.resources.envoygateway import EnvoyPatchPolicy
from projections.resources.gatewayapi import GROUP

KIND = "EnvoyPatchPolicy"
DISABLED_MESSAGE = "EnvoyPatchPolicy is disabled: start egd with --enable-envoy-patch-policy"

GatewayLookup = Callable[[Reader, ResourceKey], GatewayContext | None]


def _targets(policy: EnvoyPatchPolicy, gateway: ResourceKey) -> bool:
    ref = policy.spec.target_ref
    return (ref.group, ref.kind, ref.name) == (GROUP, "Gateway", gateway.name)


def _problem(policy: EnvoyPatchPolicy) -> str | None:
    """Why egd cannot apply the policy at all, if it cannot."""
    for patch in policy.spec.json_patches:
        if patch.operation.json_path is not None:
            return "jsonPath in a patch operation is not supported: use path (a JSON pointer)"
    return None


def gateway_patches(reader: Reader, gateway: ResourceKey, enabled: bool) -> tuple[ir.EnvoyPatch, ...]:
    """The operations of every accepted EnvoyPatchPolicy on `gateway`, in the order they apply."""
    if not enabled:
        return ()
    found: list[tuple[int, str, Resource, EnvoyPatchPolicy]] = []
    for resource in reader.listed(KIND, gateway.namespace):
        model = resource.model
        if isinstance(model, EnvoyPatchPolicy) and _targets(model, gateway) and _problem(model) is None:
            found.append((model.spec.priority, resource.key.name, resource, model))
    patches: list[ir.EnvoyPatch] = []
    for _, name, _, model in sorted(found, key=lambda f: (f[0], f[1])):
        for patch in model.spec.json_patches:
            operation = patch.operation
            patches.append(
                ir.EnvoyPatch(
                    policy=f"{gateway.namespace}/{name}",
                    type_url=patch.type,
                    name=patch.name,
                    op=operation.op,
                    path=operation.path or "",
                    from_path=operation.from_,
                    value=None if operation.op in ("remove", "move", "copy") else json.dumps(operation.value),
                )
            )
    return tuple(patches)


def patch_policy_status(
    reader: Reader, key: ResourceKey, gateways: GatewayLookup, enabled: bool
) -> PolicyStatus | None:
    """`Accepted` per targeted Gateway; None when the policy or its Gateway does not exist."""
    found = reader.model(key, EnvoyPatchPolicy)
    if found is None:
        return None
    resource, policy = found
    ref = policy.spec.target_ref
    generation = resource.generation
    if ref.group != GROUP or ref.kind != "Gateway":
        gateway = ResourceKey(group=ref.group, kind=ref.kind, namespace=key.namespace, name=ref.name)
        message = f"Target {ref.group}/{ref.kind} is not supported: an EnvoyPatchPolicy targets a Gateway"
        return _status(gateway, condition("Accepted", False, "Invalid", message, generation))
    gateway = ResourceKey(group=GROUP, kind="Gateway", namespace=key.namespace, name=ref.name)
    if gateways(reader, gateway) is None:
        return None
    problem = _problem(policy)
    if not enabled:
        accepted = condition("Accepted", False, "Disabled", DISABLED_MESSAGE, generation)
    elif problem is not None:
        accepted = condition("Accepted", False, "Invalid", problem, generation)
    else:
        accepted = condition("Accepted", True, "Accepted", "Policy has been accepted.", generation)
    return _status(gateway, accepted)


def with_outcomes(
    statuses: Mapping[ResourceKey, Status], outcomes: Mapping[str, str | None]
) -> dict[ResourceKey, Status]:
    """`statuses` with `Programmed` added to each accepted EnvoyPatchPolicy that has an outcome from the xDS
    stage (`<namespace>/<name>` -> None when its patches applied, else why not)."""
    out = dict(statuses)
    for key, status in statuses.items():
        outcome_key = f"{key.namespace}/{key.name}"
        if key.kind != KIND or outcome_key not in outcomes or not isinstance(status, PolicyStatus):
            continue
        problem = outcomes[outcome_key]
        ancestors = []
        for ancestor in status.ancestors:
            accepted = ancestor.conditions[0]
            if accepted.status == "True":
                generation = accepted.observed_generation
                if problem is None:
                    programmed = condition("Programmed", True, "Programmed", "Patches have been applied.", generation)
                else:
                    programmed = condition("Programmed", False, "Invalid", problem, generation)
                programmed = msgspec.structs.replace(programmed, last_transition_time=accepted.last_transition_time)
                ancestor = msgspec.structs.replace(ancestor, conditions=(accepted, programmed))
            ancestors.append(ancestor)
        out[key] = PolicyStatus(ancestors=tuple(ancestors))
    return out


def _status(gateway: ResourceKey, accepted: Condition) -> PolicyStatus:
    ref = ParentRefStatus(group=gateway.group, kind=gateway.kind, name=gateway.name, namespace=gateway.namespace)
    return PolicyStatus(
        ancestors=(PolicyAncestorStatus(ancestor_ref=ref, controller_name=CONTROLLER_NAME, conditions=(accepted,)),)
    )
