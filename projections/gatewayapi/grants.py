"""ReferenceGrant: whether an object may refer to one in another namespace."""

from __future__ import annotations

from events.keys import ResourceKey
from projections.gatewayapi.inputs import Reader
from projections.resources.gatewayapi import ReferenceGrant


def reference_permitted(reader: Reader, source: ResourceKey, target: ResourceKey) -> bool:
    """Whether `source` may refer to `target`: always within a namespace, across namespaces only when a
    ReferenceGrant in the target's namespace allows it."""
    if source.namespace == target.namespace:
        return True
    for resource in reader.listed("ReferenceGrant", target.namespace):
        grant = resource.model
        if not isinstance(grant, ReferenceGrant):
            continue
        from_ok = any(
            f.group == source.group and f.kind == source.kind and f.namespace == source.namespace
            for f in grant.spec.from_
        )
        to_ok = any(
            t.group == target.group and t.kind == target.kind and (t.name is None or t.name == target.name)
            for t in grant.spec.to
        )
        if from_ok and to_ok:
            return True
    return False
