"""HTTPRoute session persistence -> Envoy's stateful session filter, as Envoy Gateway configures it: one filter
in the connection manager, disabled there, and each route with session persistence enables it with its own
cookie or header (`StatefulSessionPerRoute`)."""

from __future__ import annotations

import re
from typing import Any

from envoy.config.core.v3 import extension_pb2
from envoy.extensions.filters.http.stateful_session.v3 import stateful_session_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.http.stateful_session.cookie.v3 import cookie_pb2
from envoy.extensions.http.stateful_session.header.v3 import header_pb2
from envoy.type.http.v3 import cookie_pb2 as http_cookie_pb2

from projections import ir
from projections.xds.translate.packing import packed

STATEFUL_SESSION_FILTER = "envoy.filters.http.stateful_session"
_NEEDED_BY = "stateful_session"  # the name routes with session persistence give in `filters`
_REGEX_PART = re.compile(r"[\\^$.|?*+()\[\]{}]")


def session_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The stateful session filter, disabled, when a route of the connection manager needs it."""
    if _NEEDED_BY not in names:
        return []
    config = packed(stateful_session_pb2.StatefulSession())
    return [hcm.HttpFilter(name=STATEFUL_SESSION_FILTER, typed_config=config, disabled=True)]


def cookie_path(path: ir.PathMatch | None) -> str:
    """The cookie's Path, as Gateway API asks (GEP-1619): the route's path, or for a regular expression its
    longest prefix of whole plain segments."""
    if path is None:
        return "/"
    if path.type != "RegularExpression":
        return path.value
    segments: list[str] = []
    for segment in path.value.split("/"):
        if _REGEX_PART.search(segment):
            break
        segments.append(segment)
    return "/".join(segments) or "/"


def session_route_config(route: ir.HTTPRoute, session: ir.SessionPersistence) -> Any:
    """The per-route configuration that enables the stateful session filter with the route's session."""
    state: Any
    if session.type == "Header":
        name = "envoy.http.stateful_session.header"
        state = header_pb2.HeaderBasedSessionState(name=session.name)
    else:
        name = "envoy.http.stateful_session.cookie"
        cookie = http_cookie_pb2.Cookie(name=session.name, path=cookie_path(route.path))
        if session.ttl_ms is not None:
            cookie.ttl.FromMilliseconds(session.ttl_ms)
        state = cookie_pb2.CookieBasedSessionState(cookie=cookie)
    stateful = stateful_session_pb2.StatefulSession(
        session_state=extension_pb2.TypedExtensionConfig(name=name, typed_config=packed(state))
    )
    return packed(stateful_session_pb2.StatefulSessionPerRoute(stateful_session=stateful))
