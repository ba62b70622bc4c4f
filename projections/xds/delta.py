"""Incremental (delta) xDS, one stream at a time: subscriptions in, the next response out.

The gRPC servicer feeds each `DeltaDiscoveryRequest` to `DeltaStream.apply_request` and, whenever
it can send, asks `DeltaStream.next_response(resources)` for one response built against the latest
resource set. Nothing here does I/O, and everything is per stream: nonces, subscriptions, what the
client holds. Each type URL is its own sub-stream (its own subscriptions and ACK/NACK).

What the client holds (`held`) is recorded when a response is *built*, not when it is ACKed, and taken back
when the response is NACKed: the client then holds what it had ACKed. Envoy refuses a response whole, so of a
NACKed response of several resources each is sent again alone (`isolating`): those the client takes reach it,
and the one it refuses is found. A version NACKed alone is `rejected`: not sent again (no loop) until the
client asks for it again (subscribes to it, or unsubscribes and subscribes again), or it changes (if only back
to what the client holds), or it is gone (removed, or no longer wanted), or after a reconnect, when
`initial_resource_versions` says what the client really holds.

Rules (see /work/shared/XDS-NOTES.md, sections 3 to 9):
- legacy wildcard: until a non-empty `resource_names_subscribe` for a type, an empty one means `*`;
- in one request, `resource_names_unsubscribe` is applied before `resource_names_subscribe`, so a
  name in both ends up subscribed;
- a name in `resource_names_subscribe` is answered even if the client is believed to hold it, unless
  the same request lists it in `initial_resource_versions` (then only a differing version is sent);
- unsubscribing X while subscribed to `*` answers X again (or removes it if it is not in the wildcard set);
- an explicit name that does not exist is answered in `removed_resources` (unless disabled for the
  type) and stays subscribed: it is sent when it appears;
- the first wildcard request of a type is always answered, even with nothing;
- additions go out in `ADD_ORDER`, then removals in the reverse order, each as its own response;
- every Cluster sent with EDS makes its ClusterLoadAssignment go out again (Envoy warms an updated
  cluster until a new ClusterLoadAssignment arrives), also when the client subscribes to it only after the
  cluster went out, reporting it unchanged in `initial_resource_versions` (a reconnect);
- delta clients are served route configurations in their VHDS form (`ResourceSet.of_type(delta=True)`):
  every RouteConfiguration sent makes the VirtualHosts of its namespace (`<name>/...`) go out again
  right after it (a new route configuration in Envoy starts with no virtual host), and no VirtualHost
  goes out while a RouteConfiguration is still to be sent (Envoy drops a VirtualHost whose route
  configuration it does not have yet);
- responses wait for the client's answers to earlier ones (see `DeltaStream`).

A sub-stream evaluates only the names that may need a response: those changed since the resource set it
last evaluated (given by the set's `Revision`, see `projections.xds.history`, across every version it
skipped), plus those its own requests touched. It evaluates every resource of its type the first time, when
it (re)subscribes to `*`, and when it is not told what changed (no revision, or too far behind).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import msgspec

from projections.xds.history import Revision
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    VIRTUAL_HOST,
    ResourceSet,
    VersionedResource,
    order_for_adds,
    order_for_removals,
)

WILDCARD = "*"
# Old Envoys NACK a removal of an SDS secret they asked for ("Missing SDS resources", envoy#24373).
DEFAULT_SILENT_WHEN_MISSING: frozenset[str] = frozenset({SECRET})
# Make-before-break: a response of a type waits until the client answered the responses of these
# types (and its own previous one). Envoy ACKs a Cluster only once it is warm, i.e. after its
# ClusterLoadAssignment arrived, so endpoints do not wait for clusters; routes (route configurations
# and virtual hosts) wait for both, so they never point at a cluster Envoy is still warming. Virtual
# hosts do not wait for the ACK of their route configuration: the ADS stream keeps them in order, and
# Envoy may hold that ACK until the route configuration's first virtual hosts arrived.
WAITS_FOR: dict[str, frozenset[str]] = {
    CLUSTER: frozenset({SECRET}),
    LISTENER: frozenset({SECRET, CLUSTER, CLUSTER_LOAD_ASSIGNMENT}),
    ROUTE_CONFIGURATION: frozenset({SECRET, CLUSTER, CLUSTER_LOAD_ASSIGNMENT}),
    VIRTUAL_HOST: frozenset({SECRET, CLUSTER, CLUSTER_LOAD_ASSIGNMENT}),
}
_ROUTES = (LISTENER, ROUTE_CONFIGURATION, VIRTUAL_HOST)
# Responses remembered per type to explain a later ACK/NACK; older ones are forgotten.
REMEMBERED_RESPONSES = 16


class SentResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What one response carried, kept until the client answers it."""

    type_url: str
    nonce: str
    resources: tuple[tuple[str, str], ...]
    """(name, version) pairs."""
    removed: tuple[str, ...]


class Acknowledgement(msgspec.Struct, frozen=True, kw_only=True):
    """The client's answer to one response: an ACK, or a NACK with the client's error."""

    kind: Literal["ack", "nack"]
    type_url: str
    nonce: str
    response: SentResponse | None
    """The response answered; None if this stream never sent that nonce (e.g. one from an older stream)."""
    error_code: int = 0
    error_message: str = ""


class DeltaResponse(msgspec.Struct, frozen=True, kw_only=True):
    type_url: str
    nonce: str
    resources: tuple[VersionedResource, ...] = ()
    removed: tuple[str, ...] = ()


class DeltaSubscription:
    """One type URL's sub-stream: what the client asked for and what it holds."""

    __slots__ = (
        "_dirty",
        "_evaluated_at",
        "acked",
        "forced",
        "held",
        "isolating",
        "legacy_wildcard",
        "must_respond",
        "names",
        "rejected",
        "started",
        "type_url",
        "wildcard",
    )

    def __init__(self, type_url: str) -> None:
        self.type_url = type_url
        self.wildcard = False
        self.legacy_wildcard = True
        self.started = False
        self.names: set[str] = set()
        self.held: dict[str, str] = {}
        """name -> version the client holds as far as this stream knows; "" means unknown (resend)."""
        self.forced: set[str] = set()
        """Names to answer even if the client is believed to hold them."""
        self.must_respond = False
        self.acked: dict[str, str] = {}
        """name -> version the client ACKed, or reported holding in `initial_resource_versions` (for status
        pages)."""
        self.rejected: dict[str, str] = {}
        """name -> a version the client NACKed when it was sent alone: not sent again, until the client asks for
        the name again, it changes, or it is gone."""
        self.isolating: set[str] = set()
        """Names of a NACKed response of several resources, to send again one per response (see `refused`)."""
        self._dirty: set[str] | None = None
        """Names that may need an update or a removal, as of `_evaluated_at`; None: any name may (every resource
        is evaluated). Every other name but the `forced` ones is settled (see `_settled`)."""
        self._evaluated_at: Revision | None = None
        """The revision of the resource set last evaluated, if it had one."""

    def update(self, subscribe: Iterable[str], unsubscribe: Iterable[str], initial_versions: Mapping[str, str]) -> None:
        subscribe, unsubscribe = list(subscribe), list(unsubscribe)
        first = not self.started
        self.started = True
        if first:
            self.held.update(initial_versions)
            # What a reconnecting client reports holding, it accepted (from an earlier stream or server).
            self.acked.update(initial_versions)
        if self.legacy_wildcard:
            if subscribe:
                self.legacy_wildcard = False
            elif first or self.wildcard:
                if not self.wildcard:
                    self.must_respond = True
                self._subscribe_to_everything()
        for name in unsubscribe:
            self._unsubscribe(name)
        for name in subscribe:
            if name == WILDCARD:
                if not self.wildcard:
                    self.must_respond = True
                    self._subscribe_to_everything()
            else:
                self.names.add(name)  # evaluated as `forced`, or with every resource on the first request
                self.rejected.pop(name, None)  # asked for again: answered, whatever it refused before
                if not (first and name in initial_versions):
                    self.forced.add(name)

    def _subscribe_to_everything(self) -> None:
        if not self.wildcard:
            self.wildcard = True
            self._dirty = None

    def _unsubscribe(self, name: str) -> None:
        if name == WILDCARD:
            self.wildcard = False
            for held in [n for n in self.held if n not in self.names]:
                del self.held[held]
            return
        if name not in self.names:
            return  # unknown names are ignored
        self.names.discard(name)
        self.forced.discard(name)
        self.rejected.pop(name, None)
        if self.wildcard:
            self.held[name] = ""  # answered again from the wildcard set, or removed if it is not there
            if self._dirty is not None:
                self._dirty.add(name)
        else:
            self.held.pop(name, None)
            self.acked.pop(name, None)

    def _catch_up(self, revision: Revision | None) -> None:
        """Before evaluating the resource set of `revision`: what changed since the last one evaluated is dirty
        (any name, when that is not known)."""
        if self._dirty is not None:
            changed = revision.changed_since(self._evaluated_at, self.type_url) if revision is not None else None
            if changed is None:
                self._dirty = None
            else:
                self._dirty |= changed
        self._evaluated_at = revision

    def _settled(self, name: str, available: Mapping[str, VersionedResource]) -> bool:
        """Whether `name` needs no response: the client holds its version if it wants it and it exists, or does
        not hold it otherwise."""
        resource = available.get(name)
        if resource is not None and self.wants(name):
            return self.held.get(name) == resource.version or self.rejected.get(name) == resource.version
        return name not in self.held

    def _settle(self, available: Mapping[str, VersionedResource], *, evaluated_all: bool) -> None:
        """After an evaluation: only what still needs a response stays dirty. After one of every resource
        (`evaluated_all`), every wanted resource was sent if it was due, so only held names can be unsettled;
        without a revision, the next evaluation is of every resource anyway."""
        if self._dirty is not None:
            self._dirty = {name for name in self._dirty if not self._settled(name, available)}
        elif evaluated_all and self._evaluated_at is not None:
            self._dirty = {name for name in self.held if not self._settled(name, available)}

    def wants(self, name: str) -> bool:
        return self.wildcard or name in self.names

    def _due(self, name: str, resource: VersionedResource) -> bool:
        if self.rejected and (refused := self.rejected.get(name)) is not None:  # (almost always empty)
            if refused == resource.version:
                return False
            del self.rejected[name]  # it changed since (if only back to what the client holds): should it come back
        return name in self.forced or self.held.get(name) != resource.version

    def _updates(self, available: Mapping[str, VersionedResource]) -> Iterable[VersionedResource]:
        if self._dirty is not None:
            return (
                resource
                for name in self._dirty | self.forced
                if (resource := available.get(name)) is not None and self.wants(name) and self._due(name, resource)
            )
        candidates: Iterable[tuple[str, VersionedResource]] = (
            available.items() if self.wildcard else ((n, available[n]) for n in self.names if n in available)
        )
        return (resource for name, resource in candidates if self._due(name, resource))

    def has_updates(self, available: Mapping[str, VersionedResource], revision: Revision | None = None) -> bool:
        """Whether `take_updates` would send resources (not counting a due empty response). `revision` (here and
        below): that of the resource set `available` is part of, if it has one; without, every resource of the
        type is evaluated."""
        self._catch_up(revision)
        return next(iter(self._updates(available)), None) is not None

    def take_updates(
        self, available: Mapping[str, VersionedResource], revision: Revision | None = None
    ) -> tuple[VersionedResource, ...] | None:
        """Resources to send now (recorded as held), or None when no update response is due."""
        self._catch_up(revision)
        evaluated_all = self._dirty is None
        updates = tuple(self._updates(available))
        if self.isolating:
            self.isolating.intersection_update(r.name for r in updates)  # the others need no more sending
            if self.isolating:
                alone = min(self.isolating)
                self.isolating.discard(alone)
                updates = tuple(r for r in updates if r.name == alone)
                evaluated_all = False  # what is not sent now stays due
        for resource in updates:
            self.held[resource.name] = resource.version
            self.forced.discard(resource.name)
            if self.rejected:  # another version goes out (never the rejected one: `_due`)
                self.rejected.pop(resource.name, None)
        self._settle(available, evaluated_all=evaluated_all)
        if not updates and not self.must_respond:
            return None
        self.must_respond = False
        return tuple(sorted(updates, key=lambda r: r.name))

    def take_removals(
        self, available: Mapping[str, VersionedResource], revision: Revision | None = None, *, notify_missing: bool
    ) -> tuple[str, ...]:
        """Names to send in `removed_resources` now (no longer held afterwards)."""
        self._catch_up(revision)
        candidates = self.held if self._dirty is None else self._dirty
        removed = {name for name in candidates if name in self.held and (name not in available or not self.wants(name))}
        missing = {name for name in self.forced if name not in available and name in self.names}
        self.forced -= missing
        if notify_missing:
            removed |= missing
        for name in removed:
            self.held.pop(name, None)
        if self.rejected:  # gone from what the client gets: should it come back, even as it was, it goes out
            for name in [n for n in self.rejected if n not in available or not self.wants(n)]:
                del self.rejected[name]
        self._settle(available, evaluated_all=False)
        return tuple(sorted(removed))

    def refused(self, response: SentResponse) -> None:
        """The client NACKed `response`: it holds what it ACKed before. One resource alone: that version is
        `rejected`. Several: each goes out again alone (`isolating`), so that the ones the client takes reach
        it (Envoy refuses a response whole) and the one it refuses is found."""
        names = [name for name, _ in response.resources]
        for name in names:
            acked = self.acked.get(name)
            if acked is None:
                self.held.pop(name, None)
            else:
                self.held[name] = acked
        if len(response.resources) == 1:
            name, version = response.resources[0]
            self.rejected[name] = version
        else:
            self.isolating.update(names)
            for name in names:  # some went out unchanged, forced (a VirtualHost after its RouteConfiguration)
                self.force(name)
        if self._dirty is not None:
            self._dirty.update(names)

    def force(self, name: str) -> None:
        """Send `name` again even if unchanged, if this sub-stream wants it."""
        if self.wants(name):
            self.forced.add(name)


class DeltaStream:
    """Everything one delta ADS stream knows. Owned by one stream; never shared between streams.

    Responses are gated on the client's answers (make-before-break across types): while a response
    of some type awaits its ACK/NACK, nothing more of that type nor of the types that wait for it
    (`WAITS_FOR`) is sent, and while a sent EDS cluster waits for the client to subscribe to its
    ClusterLoadAssignment, no listener or route is sent. So a route never points at a cluster Envoy
    is still warming. Removals go out only once every update is answered, in reverse order, one type at
    a time. A client that does not answer within `answer_timeout` seconds is no longer waited for.
    """

    def __init__(
        self,
        *,
        silent_when_missing: frozenset[str] = DEFAULT_SILENT_WHEN_MISSING,
        answer_timeout: float = 5.0,
    ) -> None:
        self.subscriptions: dict[str, DeltaSubscription] = {}
        self._silent_when_missing = silent_when_missing
        self._answer_timeout = answer_timeout
        self._nonces = 0
        self._sent: dict[str, dict[str, SentResponse]] = {}
        self._awaiting_answer: dict[str, tuple[str, float]] = {}
        """type URL -> (latest nonce sent, when) until the client answers that nonce."""
        self._awaiting_subscription: dict[str, float] = {}
        """ClusterLoadAssignment name -> when its cluster was sent, until the client subscribes to it."""

    def apply_request(
        self,
        *,
        type_url: str,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        initial_versions: Mapping[str, str] | None = None,
        response_nonce: str = "",
        error_code: int = 0,
        error_message: str = "",
        has_error: bool = False,
    ) -> Acknowledgement | None:
        """Apply one request. Returns the ACK/NACK it carries, if it answers a response (`response_nonce`)."""
        subscription = self.subscriptions.get(type_url)
        if subscription is None:
            subscription = self.subscriptions[type_url] = DeltaSubscription(type_url)
        subscription.update(subscribe, unsubscribe, initial_versions or {})
        if type_url == CLUSTER_LOAD_ASSIGNMENT:
            # sent since the client last had them: its cluster was, so Envoy warms it until they come, even
            # when `initial_resource_versions` (a reconnect) reports them unchanged
            for name in [n for n in self._awaiting_subscription if subscription.wants(n)]:
                del self._awaiting_subscription[name]
                subscription.force(name)
        if not response_nonce:
            return None
        if self._awaiting_answer.get(type_url, ("", 0.0))[0] == response_nonce:
            del self._awaiting_answer[type_url]
        answered = self._sent.get(type_url, {}).pop(response_nonce, None)
        if has_error:
            if type_url == CLUSTER:
                self._awaiting_subscription.clear()  # a rejected cluster will not ask for its endpoints
            if answered is not None:
                subscription.refused(answered)
            return Acknowledgement(
                kind="nack",
                type_url=type_url,
                nonce=response_nonce,
                response=answered,
                error_code=error_code,
                error_message=error_message,
            )
        if answered is not None:
            for name, version in answered.resources:
                subscription.acked[name] = version
            for name in answered.removed:
                subscription.acked.pop(name, None)
        return Acknowledgement(kind="ack", type_url=type_url, nonce=response_nonce, response=answered)

    def next_response(
        self, resources: ResourceSet, now: float, revision: Revision | None = None
    ) -> DeltaResponse | None:
        """The next response due against `resources`, in make-before-break order; None when there is
        nothing to send now (all sent, or waiting for the client: see `wake_at`). `revision`: that of
        `resources` (`ResourceHistory.revision_of`), so that only what changed is evaluated."""
        self._forget_expired(now)
        for type_url in order_for_adds(self.subscriptions):
            if self._waiting(type_url, resources, revision):
                continue
            subscription = self.subscriptions[type_url]
            updates = subscription.take_updates(resources.of_type(type_url, delta=True), revision)
            if updates is not None:
                if type_url == CLUSTER:
                    self._expect_endpoints(updates, now)
                elif type_url == ROUTE_CONFIGURATION:
                    self._resend_virtual_hosts(updates, resources)
                return self._respond(DeltaResponse(type_url=type_url, nonce=self._nonce(), resources=updates), now)
        if self._awaiting_answer:
            return None
        for type_url in order_for_removals(self.subscriptions):
            removed = self.subscriptions[type_url].take_removals(
                resources.of_type(type_url, delta=True),
                revision,
                notify_missing=type_url not in self._silent_when_missing,
            )
            if removed:
                return self._respond(DeltaResponse(type_url=type_url, nonce=self._nonce(), removed=removed), now)
        return None

    def _waiting(self, type_url: str, resources: ResourceSet, revision: Revision | None) -> bool:
        if type_url in self._awaiting_answer or any(t in self._awaiting_answer for t in WAITS_FOR.get(type_url, ())):
            return True
        if type_url == VIRTUAL_HOST:
            route_configurations = self.subscriptions.get(ROUTE_CONFIGURATION)
            if route_configurations is not None and route_configurations.has_updates(
                resources.of_type(ROUTE_CONFIGURATION, delta=True), revision
            ):
                return True
        return type_url in _ROUTES and bool(self._awaiting_subscription)

    def wake_at(self) -> float | None:
        """When waiting for the client stops (if it has not answered by then); None when not waiting."""
        started = [when for _, when in self._awaiting_answer.values()] + list(self._awaiting_subscription.values())
        return min(started) + self._answer_timeout if started else None

    def _forget_expired(self, now: float) -> None:
        limit = now - self._answer_timeout
        for type_url in [t for t, (_, when) in self._awaiting_answer.items() if when <= limit]:
            del self._awaiting_answer[type_url]
        for name in [n for n, when in self._awaiting_subscription.items() if when <= limit]:
            del self._awaiting_subscription[name]

    def _expect_endpoints(self, clusters: tuple[VersionedResource, ...], now: float) -> None:
        endpoints = self.subscriptions.get(CLUSTER_LOAD_ASSIGNMENT)
        for cluster in clusters:
            if not cluster.eds_service_name:
                continue
            if endpoints is not None and endpoints.wants(cluster.eds_service_name):
                endpoints.force(cluster.eds_service_name)
            else:
                self._awaiting_subscription[cluster.eds_service_name] = now

    def _resend_virtual_hosts(
        self, route_configurations: tuple[VersionedResource, ...], resources: ResourceSet
    ) -> None:
        virtual_hosts = self.subscriptions.get(VIRTUAL_HOST)
        if virtual_hosts is None:
            return  # the first VirtualHost request of the stream is answered with all of them
        namespaces = {r.name for r in route_configurations}
        for name in resources.of_type(VIRTUAL_HOST, delta=True):
            if name.rsplit("/", 1)[0] in namespaces:  # Envoy's namespace: what comes before the last slash
                virtual_hosts.force(name)

    def _nonce(self) -> str:
        self._nonces += 1
        return str(self._nonces)

    def _respond(self, response: DeltaResponse, now: float) -> DeltaResponse:
        self._awaiting_answer[response.type_url] = (response.nonce, now)
        sent = self._sent.setdefault(response.type_url, {})
        sent[response.nonce] = SentResponse(
            type_url=response.type_url,
            nonce=response.nonce,
            resources=tuple((r.name, r.version) for r in response.resources),
            removed=response.removed,
        )
        while len(sent) > REMEMBERED_RESPONSES:
            del sent[next(iter(sent))]
        return response
