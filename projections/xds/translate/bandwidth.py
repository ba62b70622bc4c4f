"""BackendTrafficPolicy `bandwidthLimit` in Envoy: the bandwidth limit filter, as Envoy Gateway configures it
(`internal/xds/translator/bandwidth_limit.go`): two instances in the connection manager, one per direction
(`envoy.filters.http.bandwidth_limit/request` and `/response`, as a filter limits one direction per
configuration), disabled, and only where a route needs them; a route enables them with its own limits."""

from __future__ import annotations

from typing import Any

from envoy.extensions.filters.http.bandwidth_limit.v3 import bandwidth_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from projections import ir
from projections.xds.translate.packing import packed

_FILTER_PREFIX = "envoy.filters.http."
_STAT_PREFIX = "http_bandwidth_limiter"  # Envoy Gateway's
_MODES = {
    "bandwidth_limit/request": bandwidth_limit_pb2.BandwidthLimit.REQUEST,
    "bandwidth_limit/response": bandwidth_limit_pb2.BandwidthLimit.RESPONSE,
}


def bandwidth_limit_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The bandwidth limit filters the routes of a connection manager use: after the rate limits (Envoy
    Gateway's order)."""
    disabled = packed(
        bandwidth_limit_pb2.BandwidthLimit(
            stat_prefix=_STAT_PREFIX, enable_mode=bandwidth_limit_pb2.BandwidthLimit.DISABLED
        )
    )
    return [
        hcm.HttpFilter(name=_FILTER_PREFIX + key, typed_config=disabled, disabled=True)
        for key in _MODES
        if key in names
    ]


def bandwidth_limit_configs(route: ir.HTTPRoute) -> dict[str, Any]:
    """The route's `typed_per_filter_config` entries: its limit for each direction it limits."""
    limit = route.bandwidth_limit
    if limit is None:
        return {}
    configs = {}
    for key, kibps in (
        ("bandwidth_limit/request", limit.request_kibps),
        ("bandwidth_limit/response", limit.response_kibps),
    ):
        if kibps is None:
            continue
        config = bandwidth_limit_pb2.BandwidthLimit(stat_prefix=_STAT_PREFIX, enable_mode=_MODES[key])
        config.limit_kbps.value = kibps
        if key == "bandwidth_limit/response" and limit.response_trailers:
            config.enable_response_trailers = True
            config.response_trailer_prefix = limit.response_trailer_prefix or ""
        configs[_FILTER_PREFIX + key] = packed(config)
    return configs
