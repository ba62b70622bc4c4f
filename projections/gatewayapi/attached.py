"""The routes attached to one Gateway, kept grouped by listener and hostname as routes come and go, so that a
change to one route rebuilds one virtual host, never the whole Gateway."""

from __future__ import annotations

from collections import Counter

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.http import RankedRoute
from projections.gatewayapi.routes import Attachment
from projections.ir.extensions import extension_filters
from projections.ir.security import security_filters


class ListenerRoutes:
    """What routes add to one listener: HTTP routes by hostname, or L4 routes."""

    def __init__(self, name: str) -> None:
        self.name = name  # `<namespace>/<gateway>/<listener>`
        self.routes: set[ResourceKey] = set()
        self.by_host: dict[str, dict[ResourceKey, list[RankedRoute]]] = {}
        self.l4: dict[ResourceKey, ir.L4Route] = {}
        self._vhosts: dict[str, ir.VirtualHost] = {}
        self._dirty: set[str] = set()

    def add(self, route: ResourceKey, attachment: Attachment) -> None:
        self.routes.add(route)
        for ranked in attachment.http:
            host = ranked.route.hostname
            self.by_host.setdefault(host, {}).setdefault(route, []).append(ranked)
            self._dirty.add(host)
        if attachment.l4 is not None:
            self.l4[route] = attachment.l4

    def remove(self, route: ResourceKey, attachment: Attachment) -> None:
        self.routes.discard(route)
        for ranked in attachment.http:
            host = ranked.route.hostname
            routes = self.by_host.get(host)
            if routes is not None and routes.pop(route, None) is not None:
                self._dirty.add(host)
                if not routes:
                    del self.by_host[host]
        self.l4.pop(route, None)

    def virtual_hosts(self) -> tuple[ir.VirtualHost, ...]:
        for host in self._dirty:
            routes = self.by_host.get(host)
            if not routes:
                self._vhosts.pop(host, None)
                continue
            ranked = sorted((r for rs in routes.values() for r in rs), key=lambda r: r.rank)
            types = sorted({r.route.rate_limit.type for r in ranked if r.route.rate_limit is not None})
            filters = sorted({f for r in ranked for f in r.route.filters})
            self._vhosts[host] = ir.hashed(
                ir.VirtualHost(
                    name=f"{self.name}/{host}",
                    hostname=host,
                    routes=tuple(r.route for r in ranked),
                    rate_limit_types=tuple(types),
                    security_filters=security_filters([r.route.security for r in ranked if r.route.security]),
                    extension_filters=extension_filters([r.route.extensions for r in ranked if r.route.extensions]),
                    filters=tuple(filters),
                )
            )
        self._dirty.clear()
        return tuple(self._vhosts[host] for host in sorted(self._vhosts))

    def l4_routes(self) -> tuple[ir.L4Route, ...]:
        return tuple(self.l4[key] for key in sorted(self.l4, key=lambda k: self.l4[k].name))


class GatewayRoutes:
    """Every attachment to one Gateway, by listener, with a count of the destinations they use."""

    def __init__(self, gateway: ResourceKey) -> None:
        self.prefix = f"{gateway.namespace}/{gateway.name}"
        self.listeners: dict[str, ListenerRoutes] = {}
        self.destinations: Counter[str] = Counter()
        self._variants: Counter[str] = Counter()
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
        self.destinations.update(attachment.destinations)
        for variant in attachment.variants:
            self._variants[variant.name] += 1
            self.variants[variant.name] = variant

    def remove(self, route: ResourceKey, attachment: Attachment) -> None:
        self.listener(attachment.listener).remove(route, attachment)
        self.destinations.subtract(attachment.destinations)
        for name in attachment.destinations:
            if self.destinations[name] <= 0:
                del self.destinations[name]
        for variant in attachment.variants:
            self._variants[variant.name] -= 1
            if self._variants[variant.name] <= 0:
                del self._variants[variant.name]
                del self.variants[variant.name]
