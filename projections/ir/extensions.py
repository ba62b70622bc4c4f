"""IR of EnvoyExtensionPolicy: what one route runs (`Extensions`: Lua scripts, external processors), and what
the HTTP connection manager of a listener must hold for its routes (`ExtensionFilters`).

Lua scripts travel with their routes: the connection manager holds `lua_slots` disabled Lua filters without
code, and a route running n scripts enables the first n with its own source code (LuaPerRoute). So a script
change touches its routes' RouteConfiguration only, never the Listener. An external processor is a filter of
its own (named after its policy and index), disabled in the connection manager and enabled by its routes.
"""

from __future__ import annotations

from projections.ir.base import IRStruct


class Lua(IRStruct, frozen=True, kw_only=True):
    name: str  # `<namespace>/<policy>/lua/<index>`
    code: str


class ExtProc(IRStruct, frozen=True, kw_only=True):
    name: str  # `<namespace>/<policy>/extproc/<index>`
    index: int  # its place in the policy: filters run by index, then name (Envoy Gateway's order)
    destination: str  # a Destination.name (its HTTP/2 cluster)
    authority: str
    request_headers: bool = False
    response_headers: bool = False
    request_body: str | None = None  # Streamed, Buffered, BufferedPartial, FullDuplexStreamed
    response_body: str | None = None
    request_attributes: tuple[str, ...] = ()
    response_attributes: tuple[str, ...] = ()
    allow_mode_override: bool = False
    message_timeout_ms: int | None = None
    fail_open: bool = False
    forwarding_namespaces: tuple[str, ...] = ()
    receiving_namespaces: tuple[str, ...] = ()


class Extensions(IRStruct, frozen=True, kw_only=True):
    """What the winning EnvoyExtensionPolicy of a route runs there, in order."""

    policy: str  # `<namespace>/<name>`
    luas: tuple[Lua, ...] = ()
    ext_procs: tuple[ExtProc, ...] = ()


class ExtensionFilters(IRStruct, frozen=True, kw_only=True):
    """The extension filters a connection manager needs for its routes."""

    lua_slots: int = 0  # the most Lua scripts one route runs
    ext_procs: tuple[ExtProc, ...] = ()  # by (index, name)


def _sorted(ext_procs: dict[str, ExtProc]) -> tuple[ExtProc, ...]:
    return tuple(sorted(ext_procs.values(), key=lambda e: (e.index, e.name)))


def extension_filters(extensions: list[Extensions]) -> ExtensionFilters | None:
    """What the routes running `extensions` need; None when they need nothing."""
    slots = max((len(e.luas) for e in extensions), default=0)
    ext_procs = {p.name: p for e in extensions for p in e.ext_procs}
    if not slots and not ext_procs:
        return None
    return ExtensionFilters(lua_slots=slots, ext_procs=_sorted(ext_procs))


def merge_extension_filters(parts: list[ExtensionFilters | None]) -> ExtensionFilters | None:
    """The union of several `ExtensionFilters` (a listener's from its virtual hosts)."""
    present = [p for p in parts if p is not None]
    if len(present) <= 1:
        return present[0] if present else None
    return ExtensionFilters(
        lua_slots=max(p.lua_slots for p in present),
        ext_procs=_sorted({e.name: e for p in present for e in p.ext_procs}),
    )
