"""HTTPRoute -> Route, and the spliced bytes of VirtualHosts and RouteConfigurations.

Every Route's bytes depend on its IR route alone (cluster names come from destination names), so they
are cached by the route's content hash; a VirtualHost is the concatenation of its Routes' records, a
RouteConfiguration that of its VirtualHosts' records (see `splice`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from projections import ir
from projections.xds.splice import field_record, record_head
from projections.xds.translate.backendtraffic import FAULT_FILTER, apply_retry, fault_config, hash_policies
from projections.xds.translate.bandwidth import bandwidth_limit_configs
from projections.xds.translate.credentials import credential_injector_configs
from projections.xds.translate.extensions import route_extension_configs
from projections.xds.translate.names import INVALID_BACKEND_CLUSTER, cluster_name
from projections.xds.translate.ratelimits import GLOBAL_FILTER, LOCAL_FILTER, global_rate_limit, local_rate_limit
from projections.xds.translate.security import route_security_configs
from projections.xds.translate.sessions import STATEFUL_SESSION_FILTER, session_route_config
from projections.xds.translate.trafficfilters import (
    BUFFER_FILTER,
    CUSTOM_RESPONSE_FILTER,
    buffer_config,
    compressor_configs,
    custom_response_config,
)

# Field numbers (xds-protos 1.85) of the fields spliced in.
_ROUTE_CONFIGURATION_VIRTUAL_HOSTS = 2
_VIRTUAL_HOST_NAME = 1
_VIRTUAL_HOST_DOMAINS = 2
_VIRTUAL_HOST_ROUTES = 3

_REDIRECT_CODES = {
    301: rc.RedirectAction.MOVED_PERMANENTLY,
    302: rc.RedirectAction.FOUND,
    303: rc.RedirectAction.SEE_OTHER,
    307: rc.RedirectAction.TEMPORARY_REDIRECT,
    308: rc.RedirectAction.PERMANENT_REDIRECT,
}
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD


def _duration(ms: int) -> Any:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000)


def _string_match(kind: str, value: str) -> Any:
    if kind == "RegularExpression":
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=value))
    return string_pb2.StringMatcher(exact=value)


def _match(route: ir.HTTPRoute) -> Any:
    match = rc.RouteMatch()
    path = route.path
    if path is None or (path.type == "PathPrefix" and path.value.rstrip("/") == ""):
        match.prefix = "/"
    elif path.type == "Exact":
        match.path = path.value
    elif path.type == "PathPrefix":
        # Gateway API prefixes match whole path elements: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
        match.path_separated_prefix = path.value.rstrip("/")
    else:
        match.safe_regex.regex = path.value
    if route.method:
        match.headers.append(rc.HeaderMatcher(name=":method", string_match=_string_match("Exact", route.method)))
    for header in route.headers:
        match.headers.append(rc.HeaderMatcher(name=header.name, string_match=_string_match(header.type, header.value)))
    for query in route.query_params:
        match.query_parameters.append(
            rc.QueryParameterMatcher(name=query.name, string_match=_string_match(query.type, query.value))
        )
    return match


def _header_options(modifier: ir.HeaderModifier) -> list[Any]:
    options = [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=_OVERWRITE)
        for k, v in modifier.set
    ]
    options.extend(
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=_APPEND)
        for k, v in modifier.add
    )
    return options


def _redirect(redirect: ir.Redirect) -> Any:
    action = rc.RedirectAction(response_code=_REDIRECT_CODES.get(redirect.status_code, rc.RedirectAction.FOUND))
    if redirect.scheme:
        action.scheme_redirect = redirect.scheme
    if redirect.hostname:
        action.host_redirect = redirect.hostname
    if redirect.port:
        action.port_redirect = redirect.port
    if redirect.path_type == "ReplaceFullPath" and redirect.path_value is not None:
        action.path_redirect = redirect.path_value
    elif redirect.path_type == "ReplacePrefixMatch" and redirect.path_value is not None:
        action.prefix_rewrite = redirect.path_value
    return action


def _fraction(numerator: int, denominator: int) -> Any:
    if denominator == 100:
        return percent_pb2.FractionalPercent(numerator=numerator, denominator=percent_pb2.FractionalPercent.HUNDRED)
    return percent_pb2.FractionalPercent(
        numerator=numerator * 1_000_000 // max(denominator, 1), denominator=percent_pb2.FractionalPercent.MILLION
    )


def _rewrite(action: Any, rewrite: ir.URLRewrite, path: ir.PathMatch | None) -> None:
    if rewrite.hostname:
        action.host_rewrite_literal = rewrite.hostname
    elif rewrite.hostname_from_header:
        action.host_rewrite_header = rewrite.hostname_from_header
    elif rewrite.hostname_from_backend:
        action.auto_host_rewrite.value = True
    if rewrite.path_regex is not None:
        action.regex_rewrite.pattern.regex = rewrite.path_regex.pattern
        action.regex_rewrite.substitution = rewrite.path_regex.substitution
    value = rewrite.path_value
    if value is None:
        return
    if rewrite.path_type == "ReplaceFullPath":
        action.regex_rewrite.pattern.regex = "^/.*$"
        action.regex_rewrite.substitution = value
    elif rewrite.path_type == "ReplacePrefixMatch":
        prefix = (path.value if path is not None else "/").rstrip("/")
        if value.rstrip("/") == "":
            # `/foo` -> `/` must turn `/foo/bar` into `/bar`, not `//bar` (what prefix_rewrite would give).
            action.regex_rewrite.pattern.regex = f"^{re.escape(prefix)}/*"
            action.regex_rewrite.substitution = "/"
        else:
            action.prefix_rewrite = value


def _forward(route: ir.HTTPRoute, action: Any) -> None:
    """Fill in the RouteAction `action` (a Route's `route`, built in place rather than copied there)."""
    weights: dict[str, int] = {}
    for backend in route.backends:
        if backend.weight > 0:
            name = cluster_name(backend.destination, http2=route.grpc, settings=route.cluster_settings)
            weights[name] = weights.get(name, 0) + backend.weight
    action.SetInParent()
    if len(weights) == 1 and not route.invalid_backend_weight:
        action.cluster = next(iter(weights))
    else:
        if route.invalid_backend_weight:
            weights[INVALID_BACKEND_CLUSTER] = route.invalid_backend_weight
            # The invalid share names a cluster that does not exist: Envoy answers it with this code.
            action.cluster_not_found_response_code = rc.RouteAction.INTERNAL_SERVER_ERROR
        action.weighted_clusters.clusters.extend(
            rc.WeightedCluster.ClusterWeight(name=name, weight=wrappers_pb2.UInt32Value(value=weight))
            for name, weight in weights.items()
        )
    if route.url_rewrite is not None:
        _rewrite(action, route.url_rewrite, route.path)
    if route.retry is not None:
        apply_retry(action, route.retry)
    timeouts = route.timeouts
    if timeouts is not None:
        total = timeouts.request_ms if timeouts.request_ms is not None else timeouts.backend_request_ms
        if total is not None:
            action.timeout.CopyFrom(_duration(total))
        if timeouts.backend_request_ms is not None:
            action.retry_policy.per_try_timeout.CopyFrom(_duration(timeouts.backend_request_ms))
    if route.request_timeout_ms is not None:
        action.timeout.CopyFrom(_duration(route.request_timeout_ms))
    if route.max_stream_duration_ms is not None:
        action.max_stream_duration.max_stream_duration.CopyFrom(_duration(route.max_stream_duration_ms))
    if route.hash_policy is not None:
        action.hash_policy.extend(hash_policies(route.hash_policy))
    for mirror in route.mirrors:
        policy = action.request_mirror_policies.add(cluster=cluster_name(mirror.destination, http2=route.grpc))
        if mirror.numerator < mirror.denominator:
            policy.runtime_fraction.default_value.CopyFrom(_fraction(mirror.numerator, mirror.denominator))
    for kind in route.upgrades:
        action.upgrade_configs.add(upgrade_type=kind)


def _answers_500(route: ir.HTTPRoute) -> bool:
    return not any(b.weight > 0 for b in route.backends)


def build_route(route: ir.HTTPRoute) -> Any:
    built = rc.Route(name=route.name, match=_match(route))
    if route.redirect is not None:
        built.redirect.CopyFrom(_redirect(route.redirect))
    elif route.direct_response is not None or _answers_500(route):
        response = route.direct_response or ir.DirectResponse(status=500)
        built.direct_response.status = response.status
        if response.body:
            built.direct_response.body.inline_string = response.body
        if response.content_type:
            header = base_pb2.HeaderValue(key="content-type", value=response.content_type)
            built.response_headers_to_add.append(base_pb2.HeaderValueOption(header=header, append_action=_OVERWRITE))
    else:
        _forward(route, built.route)
        limits = global_rate_limit(route)
        if limits is not None:
            built.typed_per_filter_config[GLOBAL_FILTER].CopyFrom(limits)
    local = local_rate_limit(route)
    if local is not None:
        built.typed_per_filter_config[LOCAL_FILTER].CopyFrom(local)
    for filter_name, config in (
        route_security_configs(route)
        | route_extension_configs(route)
        | bandwidth_limit_configs(route)
        | credential_injector_configs(route)
    ).items():
        built.typed_per_filter_config[filter_name].CopyFrom(config)
    if route.fault is not None:
        built.typed_per_filter_config[FAULT_FILTER].CopyFrom(fault_config(route.fault))
    if route.session_persistence is not None:
        session = session_route_config(route, route.session_persistence)
        built.typed_per_filter_config[STATEFUL_SESSION_FILTER].CopyFrom(session)
    if route.response_override is not None:
        built.typed_per_filter_config[CUSTOM_RESPONSE_FILTER].CopyFrom(custom_response_config(route.response_override))
    if route.request_buffer_bytes is not None:
        built.typed_per_filter_config[BUFFER_FILTER].CopyFrom(buffer_config(route.request_buffer_bytes))
    for filter_name, config in compressor_configs(route).items():
        built.typed_per_filter_config[filter_name].CopyFrom(config)
    if route.compression:
        built.request_headers_to_remove.append("accept-encoding")  # Envoy compresses, not the backend
    if route.request_headers is not None:
        built.request_headers_to_add.extend(_header_options(route.request_headers))
        built.request_headers_to_remove.extend(route.request_headers.remove)
    if route.response_headers is not None:
        built.response_headers_to_add.extend(_header_options(route.response_headers))
        built.response_headers_to_remove.extend(route.response_headers.remove)
    return built


def route_record(route: ir.HTTPRoute) -> bytes:
    """The `routes` record of a VirtualHost for `route`."""
    return field_record(_VIRTUAL_HOST_ROUTES, build_route(route).SerializeToString(deterministic=True))


def _virtual_clusters(virtual_host: ir.VirtualHost) -> list[Any]:
    """Envoy Gateway's virtual host stats: one virtual cluster named after the hostname (dots, which Envoy's tag
    extraction splits on, made underscores), matching `:authority` by prefix."""
    return [
        rc.VirtualCluster(
            name=virtual_host.hostname.replace(".", "_"),
            headers=[
                rc.HeaderMatcher(name=":authority", string_match=string_pb2.StringMatcher(prefix=virtual_host.hostname))
            ],
        )
    ]


def virtual_host_record(
    virtual_host: ir.VirtualHost, route_records: Sequence[bytes], size: int, *, virtual_host_stats: bool = False
) -> bytes:
    """The `virtual_hosts` record of a RouteConfiguration: `name`, `domains`, the routes' records (`size` bytes in
    all), then (with `virtual_host_stats`) its virtual clusters, whose field number is above the routes'."""
    head = virtual_host_head(virtual_host.name, virtual_host.hostname)
    tail = virtual_host_tail(virtual_host, virtual_host_stats=virtual_host_stats)
    start = record_head(_ROUTE_CONFIGURATION_VIRTUAL_HOSTS, len(head) + size + len(tail))
    return b"".join([start, head, *route_records, tail])


def virtual_host_head(name: str, domain: str) -> bytes:
    """What a serialised VirtualHost has before its routes: its `name` and its one domain (written here rather
    than by building a message: every virtual host has them, and they are the same bytes)."""
    name_record = field_record(_VIRTUAL_HOST_NAME, name.encode()) if name else b""  # proto3 leaves "" out
    return name_record + field_record(_VIRTUAL_HOST_DOMAINS, domain.encode())


def virtual_host_tail(virtual_host: ir.VirtualHost, *, virtual_host_stats: bool) -> bytes:
    """The fields of a VirtualHost numbered above its routes: its virtual clusters, with `virtual_host_stats`."""
    if not virtual_host_stats:
        return b""
    return bytes(rc.VirtualHost(virtual_clusters=_virtual_clusters(virtual_host)).SerializeToString(deterministic=True))


def route_configuration_tail(http3_port: int | None) -> Any:
    """The fields of a RouteConfiguration numbered above `virtual_hosts`. With `http3_port` (its listener serves
    HTTP/3 over QUIC on that port), the `alt-svc` response header that advertises it, as Envoy Gateway does."""
    tail = route_pb2.RouteConfiguration(ignore_port_in_host_matching=True)
    if http3_port is not None:
        header = base_pb2.HeaderValue(key="alt-svc", value=f'h3=":{http3_port}"; ma=86400')
        tail.response_headers_to_add.append(base_pb2.HeaderValueOption(header=header, append_action=_APPEND))
    return tail


_ROUTE_CONFIGURATION_TAIL = route_configuration_tail(None).SerializeToString(deterministic=True)


def route_configuration_ends(name: str, http3_port: int | None = None) -> tuple[bytes, bytes]:
    """What a serialised RouteConfiguration has before its virtual hosts' records (`name`) and after them (the
    fields numbered above)."""
    head: bytes = route_pb2.RouteConfiguration(name=name).SerializeToString(deterministic=True)
    tail = (
        _ROUTE_CONFIGURATION_TAIL
        if http3_port is None
        else route_configuration_tail(http3_port).SerializeToString(deterministic=True)
    )
    return head, tail


def build_route_configuration(
    name: str,
    virtual_hosts: Iterable[ir.VirtualHost],
    http3_port: int | None = None,
    *,
    virtual_host_stats: bool = False,
) -> Any:
    """The same RouteConfiguration as a message, built at once (what the spliced bytes must equal)."""
    built = route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            rc.VirtualHost(
                name=v.name,
                domains=[v.hostname],
                routes=[build_route(r) for r in v.routes],
                virtual_clusters=_virtual_clusters(v) if virtual_host_stats else [],
            )
            for v in virtual_hosts
        ],
    )
    built.MergeFrom(route_configuration_tail(http3_port))
    return built
