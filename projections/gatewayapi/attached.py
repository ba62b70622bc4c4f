"""The routes attached to one Gateway, kept grouped by listener and hostname as routes come and go, so that a
change to one route rebuilds one virtual host, never the whole Gateway."""

from __future__ import annotations

import bisect
from typing import TypeVar

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.http import Rank, RankedRoute
from projections.gatewayapi.routes import Attachment
from projections.ir.extensions import ExtensionFilters, Extensions, extension_filters, merge_extension_filters
from projections.ir.security import Security, SecurityFilters, merge_filters, security_filters

K = TypeVar("K", str, Security, Extensions)


class HostRoutes:
    """The routes of one hostname, kept in precedence order with counts of what their virtual host needs, so
    that adding or removing one route costs that route, not the whole host."""

    def __init__(self) -> None:
        self._ranks: list[Rank] = []  # the routes' ranks, in order (searched in C, without a key function)
        self._routes: list[ir.HTTPRoute] = []  # the routes, in the same order
        # how many of the routes need each (plain dicts: a Counter costs more to create and to update)
        self.rate_limit_types: dict[str, int] = {}
        self.filters: dict[str, int] = {}
        self.securities: dict[Security, int] = {}
        self.extensions: dict[Extensions, int] = {}

    def __bool__(self) -> bool:
        return bool(self._ranks)

    def add(self, ranked: RankedRoute) -> None:
        at = bisect.bisect_right(self._ranks, ranked.rank)
        self._ranks.insert(at, ranked.rank)
        self._routes.insert(at, ranked.route)
        self._count(ranked.route, 1)

    def remove(self, ranked: RankedRoute) -> None:
        at = bisect.bisect_left(self._ranks, ranked.rank)
        del self._ranks[at], self._routes[at]
        self._count(ranked.route, -1)

    def _count(self, route: ir.HTTPRoute, delta: int) -> None:
        if route.rate_limit is not None:
            _adjust(self.rate_limit_types, route.rate_limit.type, delta)
        for name in route.filters:
            _adjust(self.filters, name, delta)
        if route.security is not None:
            _adjust(self.securities, route.security, delta)
        if route.extensions is not None:
            _adjust(self.extensions, route.extensions, delta)

    def virtual_host(self, name: str, hostname: str) -> ir.VirtualHost:
        return ir.hashed(
            ir.VirtualHost(
                name=name,
                hostname=hostname,
                routes=tuple(self._routes),
                rate_limit_types=tuple(sorted(self.rate_limit_types)),
                security_filters=self._security_filters(),
                extension_filters=self._extension_filters(),
                filters=tuple(sorted(self.filters)),
            )
        )

    def _security_filters(self) -> SecurityFilters | None:
        if not self.securities:
            return None
        return security_filters(sorted(self.securities, key=_canonical))

    def _extension_filters(self) -> ExtensionFilters | None:
        if not self.extensions:
            return None
        return extension_filters(sorted(self.extensions, key=_canonical))


def _adjust(counts: dict[K, int], key: K, delta: int) -> None:
    """Add `delta` to the count of `key`, dropping keys that reach 0 (so the keys are what is present)."""
    count = counts.get(key, 0) + delta
    if count:
        counts[key] = count
    else:
        del counts[key]


V = TypeVar("V", SecurityFilters, ExtensionFilters)


def _replace(held: dict[str, V], host: str, value: V | None) -> bool:
    """`held[host]` set to `value` (dropped for None); whether that changed it."""
    if held.get(host) == value:
        return False
    if value is None:
        del held[host]
    else:
        held[host] = value
    return True


def _canonical(piece: Security | Extensions) -> bytes:
    return msgspec.json.encode(piece)


_SORT_ALL_FRACTION = 16
"""A listener's hosts are sorted all at once when more than 1/16 of them changed (see `ListenerRoutes.hosts`)."""


class ListenerHosts(msgspec.Struct, frozen=True, kw_only=True):
    """A listener's virtual hosts (by hostname) and what its connection manager needs for all of them."""

    virtual_hosts: tuple[ir.VirtualHost, ...]
    rate_limit_types: tuple[str, ...]
    filters: tuple[str, ...]
    security_filters: SecurityFilters | None
    extension_filters: ExtensionFilters | None


class ListenerRoutes:
    """What routes add to one listener: HTTP routes by hostname, or L4 routes. The virtual hosts are kept in
    hostname order with counts of what they need, so that a changed route costs its virtual host, not a pass
    over all of them."""

    def __init__(self, name: str) -> None:
        self.name = name  # `<namespace>/<gateway>/<listener>`
        self.routes: set[ResourceKey] = set()
        self.by_host: dict[str, HostRoutes] = {}
        self.l4: dict[ResourceKey, ir.L4Route] = {}
        self._vhosts: dict[str, ir.VirtualHost] = {}
        self._hostnames: list[str] = []  # sorted
        self._ordered: list[ir.VirtualHost] = []  # the virtual hosts of `_hostnames`, in the same order
        self._rate_limit_types: dict[str, int] = {}  # how many virtual hosts need each
        self._filters: dict[str, int] = {}
        self._securities: dict[str, SecurityFilters] = {}  # hostname -> its virtual host's, where it has some
        self._extensions: dict[str, ExtensionFilters] = {}
        self._hosts: ListenerHosts | None = None  # the last result, while nothing changed
        self._dirty: set[str] = set()

    def add(self, route: ResourceKey, attachment: Attachment) -> None:
        self.routes.add(route)
        for ranked in attachment.http:
            host = ranked.route.hostname
            found = self.by_host.get(host)
            if found is None:
                found = self.by_host[host] = HostRoutes()
            found.add(ranked)
            self._dirty.add(host)
        if attachment.l4 is not None:
            self.l4[route] = attachment.l4

    def remove(self, route: ResourceKey, attachment: Attachment) -> None:
        self.routes.discard(route)
        for ranked in attachment.http:
            host = ranked.route.hostname
            routes = self.by_host[host]
            routes.remove(ranked)
            self._dirty.add(host)
            if not routes:
                del self.by_host[host]
        self.l4.pop(route, None)

    def hosts(self) -> ListenerHosts:
        if self._hosts is not None and not self._dirty:
            return self._hosts
        merged_changed = False
        # Inserting a host into the order moves those after it: for many hosts at once (a translation from
        # scratch) that grows with the square of their number, so they are sorted all at once instead.
        sort_all = len(self._dirty) * _SORT_ALL_FRACTION > len(self._hostnames)
        for host in self._dirty:
            routes = self.by_host.get(host)
            old = self._vhosts.pop(host, None)
            new = routes.virtual_host(f"{self.name}/{host}", host) if routes is not None else None
            if new is not None:
                self._vhosts[host] = new
            if not sort_all:
                self._place(host, old, new)
            for counts, before, after in (
                (self._rate_limit_types, old.rate_limit_types if old else (), new.rate_limit_types if new else ()),
                (self._filters, old.filters if old else (), new.filters if new else ()),
            ):
                for name in before:
                    _adjust(counts, name, -1)
                for name in after:
                    _adjust(counts, name, 1)
            merged_changed |= _replace(self._securities, host, new.security_filters if new else None)
            merged_changed |= _replace(self._extensions, host, new.extension_filters if new else None)
        self._dirty.clear()
        if sort_all:
            self._hostnames = sorted(self._vhosts)
            self._ordered = [self._vhosts[host] for host in self._hostnames]
        previous = self._hosts
        if previous is None or merged_changed:
            security = merge_filters([self._securities[h] for h in sorted(self._securities)])
            extensions = merge_extension_filters([self._extensions[h] for h in sorted(self._extensions)])
        else:
            security, extensions = previous.security_filters, previous.extension_filters
        self._hosts = ListenerHosts(
            virtual_hosts=tuple(self._ordered),
            rate_limit_types=tuple(sorted(self._rate_limit_types)),
            filters=tuple(sorted(self._filters)),
            security_filters=security,
            extension_filters=extensions,
        )
        return self._hosts

    def _place(self, host: str, old: ir.VirtualHost | None, new: ir.VirtualHost | None) -> None:
        """Put `new` in hostname order where `old` was (either may be None: added or removed)."""
        at = bisect.bisect_left(self._hostnames, host)
        if new is None:
            if old is not None:
                del self._hostnames[at], self._ordered[at]
        elif old is None:
            self._hostnames.insert(at, host)
            self._ordered.insert(at, new)
        else:
            self._ordered[at] = new

    def l4_routes(self) -> tuple[ir.L4Route, ...]:
        return tuple(self.l4[key] for key in sorted(self.l4, key=lambda k: self.l4[k].name))


class GatewayRoutes:
    """Every attachment to one Gateway, by listener, with a count of the destinations they use."""

    def __init__(self, gateway: ResourceKey) -> None:
        self.prefix = f"{gateway.namespace}/{gateway.name}"
        self.listeners: dict[str, ListenerRoutes] = {}
        self.destinations: dict[str, int] = {}
        self._variants: dict[str, int] = {}
        self.variants: dict[str, ir.ClusterVariant] = {}

    def __bool__(self) -> bool:
        return bool(self.destinations) or any(listener.routes for listener in self.listeners.values())

    def listener(self, name: str) -> ListenerRoutes:
        found = self.listeners.get(name)
        if found is None:
            found = self.listeners[name] = ListenerRoutes(f"{self.prefix}/{name}")
        return found

    def add(self, route: ResourceKey, attachment: Attachment) -> None:
        self.listener(attachment.listener).add(route, attachment)
        for name in attachment.destinations:
            _adjust(self.destinations, name, 1)
        for variant in attachment.variants:
            _adjust(self._variants, variant.name, 1)
            self.variants[variant.name] = variant

    def remove(self, route: ResourceKey, attachment: Attachment) -> None:
        self.listener(attachment.listener).remove(route, attachment)
        for name in attachment.destinations:
            _adjust(self.destinations, name, -1)
        for variant in attachment.variants:
            _adjust(self._variants, variant.name, -1)
            if variant.name not in self._variants:
                del self.variants[variant.name]
