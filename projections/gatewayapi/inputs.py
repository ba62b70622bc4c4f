"""What translation reads: decoded resources, indexed, behind a reader that records every read.

Translation never looks at the store directly: each unit of work reads through a `Reader`, which records a
token for every key and every query it asked, so that the incremental translator knows exactly which units
an event can affect. A read of a key that does not exist is recorded too: creating it later must wake the
reader up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import msgspec

from events.keys import ResourceKey
from projections.gatewayapi.policykinds import POLICY_KINDS, target_refs, target_selectors
from projections.resources.decode import decode_resource

# A dependency token: ("key", ResourceKey) for one object, ("list", kind, namespace) for every object of a kind
# in a namespace, ("slices", namespace, service) for the EndpointSlices of a Service, and tokens the translator
# defines for the results of its own units (see `translator`). Policies: ("policy-ref", policy kind, target kind,
# namespace, target name) for the policies that name a target, ("policy-sel", policy kind, namespace) for the
# policies of a namespace that select targets by label.
Token = tuple[Any, ...]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

M = TypeVar("M", bound=msgspec.Struct)
T = TypeVar("T")
H = TypeVar("H", bound=Hashable)
P = ParamSpec("P")

SharedReads = dict[Hashable, tuple[object, frozenset[Token]]]
"""What several units read alike (a Gateway's policies, for every route attached to it), computed once while the
inputs stay the same (one run of the translator): key -> (value, the tokens reading it took)."""


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    """One decoded object as translation sees it."""

    key: ResourceKey
    model: msgspec.Struct
    generation: int = 1
    changed_at: datetime | None = None
    created_at: datetime | None = None
    """When the object was created (its first event since it last did not exist): Gateway API and Envoy Gateway
    order rival routes and policies by it, oldest first."""

    @property
    def age_rank(self) -> tuple[float, str]:
        """Oldest first, then by `<namespace>/<name>` (Gateway API's tie-break between routes). To the second,
        as Kubernetes and `metadata.creationTimestamp` keep it: `egd translate` of `egd get`'s output ranks alike."""
        created = float(int(self.created_at.timestamp())) if self.created_at is not None else 0.0
        return created, f"{self.key.namespace}/{self.key.name}"


def decode_input(
    document: dict[str, Any],
    position: str,
    *,
    generation: int = 1,
    changed_at: datetime | None = None,
    created_at: datetime | None = None,
) -> Resource:
    """A raw stored document as translation reads it; raises InvalidDocumentError when it does not decode
    (such an object gets no IR: the caller reports it)."""
    decoded = decode_resource(document, position)
    return Resource(
        key=decoded.key, model=decoded.model, generation=generation, changed_at=changed_at, created_at=created_at
    )


def resource_tokens(resource: Resource) -> Iterator[Token]:
    """Every token a change to `resource` (its arrival, update or removal) invalidates."""
    key = resource.key
    yield ("key", key)
    yield ("list", key.kind, key.namespace)
    if key.kind == "EndpointSlice":
        service = _labels(resource.model).get(SERVICE_NAME_LABEL)
        if service:
            yield ("slices", key.namespace, service)
    if key.kind in POLICY_KINDS:
        yield from _policy_tokens(resource)


def _policy_tokens(resource: Resource) -> Iterator[Token]:
    key = resource.key
    for ref in target_refs(resource.model):
        yield ("policy-ref", key.kind, ref.kind, key.namespace, ref.name)
    if target_selectors(resource.model):
        yield ("policy-sel", key.kind, key.namespace)


def _labels(model: msgspec.Struct) -> dict[str, str]:
    metadata = getattr(model, "metadata", None)
    labels = getattr(metadata, "labels", None)
    return labels if isinstance(labels, dict) else {}


class Inputs:
    """The current objects, indexed by key, by (kind, namespace) and EndpointSlices by Service."""

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_key: dict[ResourceKey, Resource] = {}
        self._by_kind: dict[tuple[str, str], dict[str, Resource]] = {}
        self._slices: dict[tuple[str, str], dict[str, Resource]] = {}
        self._policies: dict[Token, dict[ResourceKey, Resource]] = {}  # by policy token
        for resource in resources:
            self.put(resource)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._by_key.values())

    def get(self, key: ResourceKey) -> Resource | None:
        return self._by_key.get(key)

    def put(self, resource: Resource) -> Resource | None:
        """Store `resource`; returns the object it replaces."""
        previous = self.remove(resource.key)
        key = resource.key
        self._by_key[key] = resource
        self._by_kind.setdefault((key.kind, key.namespace), {})[key.name] = resource
        if key.kind == "EndpointSlice":
            service = _labels(resource.model).get(SERVICE_NAME_LABEL)
            if service:
                self._slices.setdefault((key.namespace, service), {})[key.name] = resource
        if key.kind in POLICY_KINDS:
            for token in _policy_tokens(resource):
                self._policies.setdefault(token, {})[key] = resource
        return previous

    def remove(self, key: ResourceKey) -> Resource | None:
        previous = self._by_key.pop(key, None)
        if previous is None:
            return None
        self._by_kind[(key.kind, key.namespace)].pop(key.name, None)
        if key.kind == "EndpointSlice":
            service = _labels(previous.model).get(SERVICE_NAME_LABEL)
            if service:
                self._slices[(key.namespace, service)].pop(key.name, None)
        if key.kind in POLICY_KINDS:
            for token in _policy_tokens(previous):
                found = self._policies.get(token)
                if found is not None:
                    found.pop(key, None)
                    if not found:
                        del self._policies[token]
        return previous

    def of_kind(self, kind: str) -> list[Resource]:
        """Every object of `kind` in every namespace, sorted by key (for full translation)."""
        found = [r for (k, _), objs in self._by_kind.items() if k == kind for r in objs.values()]
        return sorted(found, key=lambda r: r.key)

    def listed(self, kind: str, namespace: str) -> list[Resource]:
        objs = self._by_kind.get((kind, namespace), {})
        return [objs[name] for name in sorted(objs)]

    def slices_of(self, namespace: str, service: str) -> list[Resource]:
        objs = self._slices.get((namespace, service))
        return [objs[name] for name in sorted(objs)] if objs else []

    def policies(self, token: Token) -> list[Resource]:
        """The policies behind a policy token, sorted by key."""
        found = self._policies.get(token)
        return [found[key] for key in sorted(found)] if found else []


class Reader:
    """A read-only view of `Inputs` for one unit of work; `tokens` holds what the unit read."""

    def __init__(self, inputs: Inputs, shared: SharedReads | None = None) -> None:
        self._inputs = inputs
        self._shared = shared
        self.tokens: set[Token] = set()

    def shared(self, key: Hashable, read: Callable[Concatenate[Reader, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`read(reader, *args, **kwargs)`, computed once for all the readers of the same `SharedReads` (`key`
        names what it reads): each reader that gets it depends on what it read, as if it had read it itself."""
        if self._shared is None:
            return read(self, *args, **kwargs)
        found = self._shared.get(key)
        if found is None:
            reader = Reader(self._inputs, self._shared)
            found = self._shared[key] = (read(reader, *args, **kwargs), frozenset(reader.tokens))
        self.tokens.update(found[1])
        return cast(T, found[0])

    def alike(self, value: H) -> H:
        """The first value equal to `value` that a reader of the same `SharedReads` was given, else `value`
        itself: equal values become one object, so that their identity can stand for their equality."""
        if self._shared is None:
            return value
        return cast(H, self._shared.setdefault(("alike", value), (value, frozenset()))[0])  # reads nothing

    def get(self, key: ResourceKey) -> Resource | None:
        self.tokens.add(("key", key))
        return self._inputs.get(key)

    def model(self, key: ResourceKey, kind: type[M]) -> tuple[Resource, M] | None:
        """The object at `key` if it exists and decodes as `kind`."""
        resource = self.get(key)
        if resource is None or not isinstance(resource.model, kind):
            return None
        return resource, resource.model

    def listed(self, kind: str, namespace: str) -> list[Resource]:
        self.tokens.add(("list", kind, namespace))
        return self._inputs.listed(kind, namespace)

    def slices_of(self, namespace: str, service: str) -> list[Resource]:
        self.tokens.add(("slices", namespace, service))
        return self._inputs.slices_of(namespace, service)

    def policies_naming(self, policy_kind: str, kind: str, namespace: str, name: str) -> list[Resource]:
        """The policies of `policy_kind` whose targetRefs name the object (any sectionName)."""
        token = ("policy-ref", policy_kind, kind, namespace, name)
        self.tokens.add(token)
        return self._inputs.policies(token)

    def policies_selecting(self, policy_kind: str, namespace: str) -> list[Resource]:
        """The policies of `policy_kind` in `namespace` that have targetSelectors (the caller matches labels)."""
        token = ("policy-sel", policy_kind, namespace)
        self.tokens.add(token)
        return self._inputs.policies(token)

    def depend(self, token: Token) -> None:
        self.tokens.add(token)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """A namespace's labels, with the `kubernetes.io/metadata.name` label Kubernetes always sets."""
        resource = self.get(ResourceKey(group="", kind="Namespace", namespace="", name=namespace))
        labels = dict(_labels(resource.model)) if resource else {}
        labels[NAMESPACE_NAME_LABEL] = namespace
        return labels
