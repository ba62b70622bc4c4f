"""EnvoyExtensionPolicy in Envoy: the Lua and ext_proc filters of a connection manager, and each route's
configuration of them (Envoy Gateway's `internal/xds/translator/lua.go` and `extproc.go`).

The connection manager holds, after the authentication filters and before RBAC (Envoy Gateway's order):
  - `envoy.filters.http.lua/<slot>` for slot 0..lua_slots-1, disabled and without code; a route running n
    scripts enables slots 0..n-1, each with its script as `LuaPerRoute.source_code`. Envoy Gateway keeps the
    scripts in the listener's filters (`source_codes`) and selects them by name; egd sends them with the
    routes, so a script change is a RouteConfiguration update and never drains a listener;
  - `envoy.filters.http.ext_proc/<namespace>/<policy>/extproc/<index>` per external processor, disabled,
    with its gRPC service (the destination's HTTP/2 cluster) and processing mode; its routes enable it.
"""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2, grpc_service_pb2
from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2, processing_mode_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from google.protobuf import duration_pb2

from projections import ir
from projections.ir import extensions as ext
from projections.xds.translate.names import cluster_name
from projections.xds.translate.packing import packed

LUA_FILTER = "envoy.filters.http.lua"
EXT_PROC_FILTER = "envoy.filters.http.ext_proc"
RBAC_FILTER = "envoy.filters.http.rbac"
DEFAULT_TIMEOUT = duration_pb2.Duration(seconds=10)  # Envoy Gateway's defaultExtServiceRequestTimeout
_MODE = processing_mode_pb2.ProcessingMode
_BODY_MODES = {
    "Streamed": _MODE.STREAMED,
    "Buffered": _MODE.BUFFERED,
    "BufferedPartial": _MODE.BUFFERED_PARTIAL,
    "FullDuplexStreamed": _MODE.FULL_DUPLEX_STREAMED,
}


def lua_filter_name(slot: int) -> str:
    return f"{LUA_FILTER}/{slot}"


def ext_proc_filter_name(ext_proc: ext.ExtProc) -> str:
    return f"{EXT_PROC_FILTER}/{ext_proc.name}"


def with_extension_filters(filters: list[Any], extensions: ext.ExtensionFilters | None) -> list[Any]:
    """`filters` (the security filters of a connection manager) with the extension filters before RBAC."""
    if extensions is None:
        return filters
    added = [
        hcm.HttpFilter(name=lua_filter_name(slot), typed_config=packed(lua_pb2.Lua()), disabled=True)
        for slot in range(extensions.lua_slots)
    ]
    added.extend(
        hcm.HttpFilter(name=ext_proc_filter_name(e), typed_config=packed(_ext_proc(e)), disabled=True)
        for e in extensions.ext_procs
    )
    at = next((i for i, f in enumerate(filters) if f.name == RBAC_FILTER), len(filters))
    return [*filters[:at], *added, *filters[at:]]


def _ext_proc(ext_proc: ext.ExtProc) -> Any:
    mode = _MODE(
        request_header_mode=_MODE.SEND if ext_proc.request_headers else _MODE.SKIP,
        response_header_mode=_MODE.SEND if ext_proc.response_headers else _MODE.SKIP,
        request_body_mode=_BODY_MODES.get(ext_proc.request_body or "", _MODE.NONE),
        response_body_mode=_BODY_MODES.get(ext_proc.response_body or "", _MODE.NONE),
        request_trailer_mode=_MODE.SEND if ext_proc.request_body == "FullDuplexStreamed" else _MODE.SKIP,
        response_trailer_mode=_MODE.SEND if ext_proc.response_body == "FullDuplexStreamed" else _MODE.SKIP,
    )
    config = ext_proc_pb2.ExternalProcessor(
        grpc_service=grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                cluster_name=cluster_name(ext_proc.destination, http2=True), authority=ext_proc.authority
            ),
            timeout=DEFAULT_TIMEOUT,
        ),
        failure_mode_allow=ext_proc.fail_open,
        processing_mode=mode,
        request_attributes=ext_proc.request_attributes,
        response_attributes=ext_proc.response_attributes,
        allow_mode_override=ext_proc.allow_mode_override,
    )
    if ext_proc.message_timeout_ms is not None:
        ms = ext_proc.message_timeout_ms
        config.message_timeout.CopyFrom(duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000))
    if ext_proc.forwarding_namespaces:
        config.metadata_options.forwarding_namespaces.untyped.extend(ext_proc.forwarding_namespaces)
    if ext_proc.receiving_namespaces:
        config.metadata_options.receiving_namespaces.untyped.extend(ext_proc.receiving_namespaces)
    return config


_ENABLED_EXT_PROC = ext_proc_pb2.ExtProcPerRoute(overrides=ext_proc_pb2.ExtProcOverrides())


def route_extension_configs(route: ir.HTTPRoute) -> dict[str, Any]:
    """The route's `typed_per_filter_config` entries for its EnvoyExtensionPolicy."""
    extensions = route.extensions
    if extensions is None:
        return {}
    configs: dict[str, Any] = {}
    for slot, lua in enumerate(extensions.luas):
        source = base_pb2.DataSource(inline_string=lua.code)
        configs[lua_filter_name(slot)] = packed(lua_pb2.LuaPerRoute(source_code=source))
    for ext_proc in extensions.ext_procs:
        configs[ext_proc_filter_name(ext_proc)] = packed(_ENABLED_EXT_PROC)
    return configs


def ext_proc_http2_destinations(virtual_host: ir.VirtualHost) -> set[str]:
    """The destinations of external processors: their clusters speak HTTP/2 (gRPC)."""
    filters = virtual_host.extension_filters
    return {e.destination for e in filters.ext_procs} if filters is not None else set()
