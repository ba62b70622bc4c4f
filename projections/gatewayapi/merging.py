"""`mergeType` of a route's policy: the policy merged onto its parent (the listener's policy, else the
Gateway's) instead of replacing it, as Envoy Gateway does.

`JSONMerge` is RFC 7386 merge patch of the route policy's spec (as its JSON) over the parent's: objects merge
key by key, `null` deletes, anything else (lists included) replaces. `StrategicMerge` depends on the
`patchStrategy`/`patchMergeKey` markers of Envoy Gateway's Go types, which egd does not carry: a policy asking
for it is reported `Invalid` (see the policy kind's check).
"""

from __future__ import annotations

import msgspec

from projections.gatewayapi.inputs import Resource
from projections.resources.envoygateway import BackendTrafficPolicy

JSON_MERGE = "JSONMerge"


def merge_type(policy: Resource) -> str | None:
    """The policy's `spec.mergeType`, if its kind has one and it is set."""
    value = getattr(getattr(policy.model, "spec", None), "merge_type", None)
    return value if isinstance(value, str) else None


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: `patch` applied to `target`."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def merged_policy(policy: Resource, parent: Resource) -> Resource:
    """`policy` (a route's BackendTrafficPolicy with `mergeType: JSONMerge`) merged onto `parent`: the route
    policy's identity with the merged spec. Targets come from the route policy: the merged spec applies where it
    does."""
    model = policy.model
    assert isinstance(model, BackendTrafficPolicy) and isinstance(parent.model, BackendTrafficPolicy)
    spec = model.spec
    document = merge_patch(msgspec.to_builtins(parent.model.spec), msgspec.to_builtins(spec))
    assert isinstance(document, dict)
    targeting = {"targetRef", "targetRefs", "targetSelectors"}
    own = msgspec.to_builtins(spec)
    document = {k: v for k, v in document.items() if k not in targeting} | {
        k: v for k, v in own.items() if k in targeting
    }
    merged_spec = msgspec.convert(document, type(spec))
    return msgspec.structs.replace(policy, model=msgspec.structs.replace(model, spec=merged_spec))
