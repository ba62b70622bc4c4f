"""Hostname intersection between a listener and a route, wildcards included.

`*.example.com` matches `a.example.com` and `a.b.example.com` but not `example.com`. Where both sides are
set, the route's hostnames narrow the listener's: the more specific of two matching names is kept.
"""

from __future__ import annotations

WILDCARD = "*"


def _covers(wildcard: str, name: str) -> bool:
    """Whether `*.suffix` covers `name` (an exact name or a narrower wildcard)."""
    suffix = wildcard[1:]  # ".example.com"
    return name.endswith(suffix) and len(name) > len(suffix)


def intersect(listener: str | None, route: str) -> str | None:
    """The hostname a route serves through a listener, or None when they do not meet."""
    if listener is None or listener == route:
        return route
    if listener.startswith("*.") and _covers(listener, route):
        return route
    if route.startswith("*.") and _covers(route, listener):
        return listener
    return None


def route_hostnames(listener: str | None, route_hostnames: tuple[str, ...]) -> list[str]:
    """The hostnames a route serves through a listener, sorted; empty when none intersect.
    A route without hostnames takes the listener's (or every host, `*`)."""
    if not route_hostnames:
        return [listener or WILDCARD]
    found = {h for h in (intersect(listener, name) for name in route_hostnames) if h is not None}
    return sorted(found)
