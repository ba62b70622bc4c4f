"""`mergeType` of a route's policy: the policy merged onto its parent (the listener's policy, else the
Gateway's) instead of replacing it, as Envoy Gateway does.

`JSONMerge` is RFC 7386 merge patch of the route policy's spec (as its JSON) over the parent's: objects merge
key by key, `null` deletes, anything else (lists included) replaces. `StrategicMerge` is Kubernetes' strategic
merge patch over Envoy Gateway's Go types (`strategicpatch.StrategicMergePatch`): the same, except for the lists
those types mark `patchStrategy: merge`, which merge element by element on their `patchMergeKey` (an element
whose key the parent's list has merges into it, the others are appended). The spec, made from the typed model,
never carries `$patch` directives.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from projections.gatewayapi.inputs import Resource
from projections.resources.envoygateway import BackendTrafficPolicy

JSON_MERGE = "JSONMerge"
STRATEGIC_MERGE = "StrategicMerge"
MERGE_TYPES = (JSON_MERGE, STRATEGIC_MERGE)

# BackendTrafficPolicySpec's lists marked `patchStrategy: merge`, by their `patchMergeKey` (Envoy Gateway's
# api/v1alpha1/backendtrafficpolicy_types.go); its other lists carry no marker and are replaced.
MERGE_KEYS = {"compression": "type", "compressor": "type", "httpUpgrade": "type"}


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


def strategic_merge_patch(target: dict[str, object], patch: dict[str, object]) -> dict[str, object]:
    """Kubernetes' strategic merge patch of a BackendTrafficPolicy spec: `merge_patch`, but the `MERGE_KEYS`
    lists merge element by element on their key."""
    merged = dict(target)
    for name, value in patch.items():
        key = MERGE_KEYS.get(name)
        current = merged.get(name)
        if key is not None and isinstance(value, list | tuple) and isinstance(current, list | tuple):
            merged[name] = _merge_list(current, value, key)
        elif value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(current, value)
    return merged


def _merge_list(target: Sequence[object], patch: Sequence[object], key: str) -> list[object]:
    """`target`'s elements, each merged with the element of `patch` that has the same `key`, then the elements
    of `patch` whose key `target` has not."""
    merged = list(target)
    for element in patch:
        found = element.get(key) if isinstance(element, dict) else None
        index = next(
            (i for i, e in enumerate(merged) if isinstance(e, dict) and found is not None and e.get(key) == found),
            None,
        )
        if index is None:
            merged.append(element)
        else:
            merged[index] = merge_patch(merged[index], element)
    return merged


def merged_policy(policy: Resource, parent: Resource) -> Resource:
    """`policy` (a route's BackendTrafficPolicy with a `mergeType`) merged onto `parent`: the route policy's
    identity with the merged spec. Targets come from the route policy: the merged spec applies where it does."""
    model = policy.model
    assert isinstance(model, BackendTrafficPolicy) and isinstance(parent.model, BackendTrafficPolicy)
    spec = model.spec
    base, own_spec = msgspec.to_builtins(parent.model.spec), msgspec.to_builtins(spec)
    document = (
        strategic_merge_patch(base, own_spec) if spec.merge_type == STRATEGIC_MERGE else merge_patch(base, own_spec)
    )
    assert isinstance(document, dict)
    targeting = {"targetRef", "targetRefs", "targetSelectors"}
    own = msgspec.to_builtins(spec)
    document = {k: v for k, v in document.items() if k not in targeting} | {
        k: v for k, v in own.items() if k in targeting
    }
    merged_spec = msgspec.convert(document, type(spec))
    return msgspec.structs.replace(policy, model=msgspec.structs.replace(model, spec=merged_spec))
