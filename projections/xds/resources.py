"""Versioned xDS resources, grouped per node group, and the diff between two such groups.

A `VersionedResource` keeps the resource serialised once, as the bytes of a `google.protobuf.Any`
(`type_url` + serialised message). Both delta (`Resource.resource`) and state-of-the-world
(`DiscoveryResponse.resources`) responses embed an `Any`, so these bytes are spliced unchanged into
every response on every stream (see `projections.xds.wire`). The version is the sha256 hex of the
message's deterministic serialisation: equal content gives an equal version on every replica and
across restarts, which is what makes `initial_resource_versions` useful after a reconnect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from google.protobuf import any_pb2
from google.protobuf.message import Message

TYPE_PREFIX = "type.googleapis.com/"
LISTENER = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"
VIRTUAL_HOST = TYPE_PREFIX + "envoy.config.route.v3.VirtualHost"
CLUSTER = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT = TYPE_PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = TYPE_PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"
RATE_LIMIT_CONFIG = TYPE_PREFIX + "ratelimit.config.ratelimit.v3.RateLimitConfig"

# Make-before-break: what a resource references goes out before the resource that references it.
# Secrets before the clusters and listeners that read them, clusters before their endpoints (a
# cluster warms until its ClusterLoadAssignment arrives), then listeners, then the routes that point
# at clusters already in place, then the virtual hosts (VHDS) of route configurations already sent.
# Removals go the other way round.
ADD_ORDER: tuple[str, ...] = (
    SECRET,
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    VIRTUAL_HOST,
    RATE_LIMIT_CONFIG,
)

# Types whose state-of-the-world responses must carry every resource: an absent one means deleted.
# RateLimitConfig is here because envoyproxy/ratelimit rebuilds its whole config from each response.
SOTW_FULL_STATE: frozenset[str] = frozenset({LISTENER, CLUSTER, RATE_LIMIT_CONFIG})

# Types an Envoy subscribes to by wildcard; the others are asked for by name, because a parent names them.
WILDCARD_TYPES: frozenset[str] = frozenset({LISTENER, CLUSTER, RATE_LIMIT_CONFIG})


def _rank(type_url: str) -> tuple[int, str]:
    try:
        return (ADD_ORDER.index(type_url), type_url)
    except ValueError:
        return (len(ADD_ORDER), type_url)


def order_for_adds(type_urls: Iterable[str]) -> list[str]:
    """`type_urls` in the order additions and updates must be pushed (unknown types last, by name)."""
    return sorted(set(type_urls), key=_rank)


def order_for_removals(type_urls: Iterable[str]) -> list[str]:
    """`type_urls` in the order removals must be pushed: the reverse of `order_for_adds`."""
    return sorted(set(type_urls), key=_rank, reverse=True)


class VersionedResource(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    body: bytes
    """The serialised `google.protobuf.Any` holding the resource."""
    eds_service_name: str = ""
    """For a Cluster fed by EDS: the ClusterLoadAssignment it reads (re-sent whenever the cluster changes)."""


class TypeDiff(msgspec.Struct, frozen=True, kw_only=True):
    updated: tuple[str, ...]
    removed: tuple[str, ...]


class ResourceSet(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one node group is served: type URL -> name -> resource. Never mutated once built.

    `by_type` is what state-of-the-world clients are served (and what `egd translate` and the golden files
    show): each RouteConfiguration with its virtual hosts inline. `delta_by_type` holds the types that delta
    clients are served in another form, VHDS: RouteConfigurations that read their virtual hosts over VHDS,
    and those VirtualHosts, so that a changed route re-sends one virtual host, not the whole configuration.
    A type absent from `delta_by_type` is served to delta clients as it is in `by_type`.
    """

    by_type: dict[str, dict[str, VersionedResource]] = {}
    delta_by_type: dict[str, dict[str, VersionedResource]] = {}

    def of_type(self, type_url: str, *, delta: bool = False) -> Mapping[str, VersionedResource]:
        """The resources of `type_url` served to state-of-the-world clients, or to delta clients (`delta`)."""
        if delta:
            found = self.delta_by_type.get(type_url)
            if found is not None:
                return found
        return self.by_type.get(type_url, _EMPTY)

    def delta_view(self) -> ResourceSet:
        """What delta clients are served, as a plain `ResourceSet` (for diffs and status pages)."""
        if not self.delta_by_type:
            return self
        return ResourceSet(by_type={**self.by_type, **self.delta_by_type})


_EMPTY: Mapping[str, VersionedResource] = {}


def type_url_of(message: Message) -> str:
    full_name: str = message.DESCRIPTOR.full_name
    return TYPE_PREFIX + full_name


def name_of(message: Message) -> str:
    """The xDS name of a resource: `cluster_name` for a ClusterLoadAssignment, `name` for every other type."""
    if type_url_of(message) == CLUSTER_LOAD_ASSIGNMENT:
        return str(getattr(message, "cluster_name"))  # noqa: B009 - generic over message classes
    return str(getattr(message, "name"))  # noqa: B009


def _eds_service_name(message: Message) -> str:
    if type_url_of(message) != CLUSTER or not message.HasField("eds_cluster_config"):
        return ""
    config: Any = getattr(message, "eds_cluster_config")  # noqa: B009 - generic over message classes
    return str(config.service_name or getattr(message, "name"))  # noqa: B009


def version_of(serialised: bytes) -> str:
    return hashlib.sha256(serialised).hexdigest()


def versioned(message: Message) -> VersionedResource:
    """Serialise `message` once (deterministically) into a `VersionedResource`."""
    value = message.SerializeToString(deterministic=True)
    body = any_pb2.Any(type_url=type_url_of(message), value=value).SerializeToString(deterministic=True)
    return VersionedResource(
        name=name_of(message), version=version_of(value), body=body, eds_service_name=_eds_service_name(message)
    )


def resource_set(messages: Iterable[Message]) -> ResourceSet:
    """A `ResourceSet` of `messages`; two resources of one type with one name is a programming error."""
    by_type: dict[str, dict[str, VersionedResource]] = {}
    for message in messages:
        resource = versioned(message)
        of_type = by_type.setdefault(type_url_of(message), {})
        if resource.name in of_type:
            raise ValueError(f"duplicate {type_url_of(message)} named {resource.name!r}")
        of_type[resource.name] = resource
    return ResourceSet(by_type=by_type)


def with_changes(
    base: ResourceSet, updated: Iterable[tuple[str, VersionedResource]], removed: Iterable[tuple[str, str]] = ()
) -> ResourceSet:
    """`base` with `(type_url, resource)` put and `(type_url, name)` removed in `by_type`; untouched types are
    shared, not copied, and `delta_by_type` is kept as it is."""
    by_type = dict(base.by_type)
    copied: set[str] = set()

    def writable(type_url: str) -> dict[str, VersionedResource]:
        if type_url not in copied:
            by_type[type_url] = dict(by_type.get(type_url, {}))
            copied.add(type_url)
        return by_type[type_url]

    for type_url, resource in updated:
        writable(type_url)[resource.name] = resource
    for type_url, name in removed:
        writable(type_url).pop(name, None)
    return ResourceSet(by_type={t: m for t, m in by_type.items() if m}, delta_by_type=base.delta_by_type)


def diff(previous: ResourceSet, next: ResourceSet) -> dict[str, TypeDiff]:
    """Per type URL, the names added or changed and the names removed; types without change are left out."""
    changes: dict[str, TypeDiff] = {}
    for type_url in set(previous.by_type) | set(next.by_type):
        before, after = previous.of_type(type_url), next.of_type(type_url)
        if before is after:
            continue
        updated = tuple(
            sorted(n for n, r in after.items() if (old := before.get(n)) is None or old.version != r.version)
        )
        removed = tuple(sorted(n for n in before if n not in after))
        if updated or removed:
            changes[type_url] = TypeDiff(updated=updated, removed=removed)
    return changes


def digest(resources: ResourceSet) -> str:
    """sha256 over every (type URL, name, version) in sorted order, of both forms (state of the world, then
    what differs for delta clients): two replicas serving the same bytes to a node group have the same digest
    (versions are content hashes)."""
    hasher = hashlib.sha256()
    for form, by_type in (("", resources.by_type), ("delta\0", resources.delta_by_type)):
        for type_url in sorted(by_type):
            for name, resource in sorted(by_type[type_url].items()):
                hasher.update(f"{form}{type_url}\0{name}\0{resource.version}\n".encode())
    return hasher.hexdigest()
