"""BackendTrafficPolicy -> Envoy: a route's retries, hash policy and fault injection; a cluster variant's load
balancing, timeouts, circuit breakers, health checks, buffer limit, keepalive, proxy protocol, HTTP/2 and DNS
resolution (see `trafficfilters` for the per-route compressor, custom response and buffer filters)."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, health_check_pb2, protocol_pb2, proxy_protocol_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import percent_pb2, range_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from projections import ir
from projections.xds.translate.admission import upstream_http_filters
from projections.xds.translate.balancing import load_balancing_policy, needs_typed_policy
from projections.xds.translate.packing import packed

FAULT_FILTER = "envoy.filters.http.fault"


def _duration(ms: int) -> Any:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000)


def _percent(value: float) -> Any:
    """A percentage as Envoy's FractionalPercent, per million so that 0.1% survives."""
    return percent_pb2.FractionalPercent(
        numerator=round(value * 10_000), denominator=percent_pb2.FractionalPercent.MILLION
    )


# --- route ---------------------------------------------------------------------------------------------------


def apply_retry(action: Any, retry: ir.Retry) -> None:
    policy = action.retry_policy
    policy.retry_on = ",".join(retry.retry_on)
    policy.num_retries.value = retry.num_retries
    policy.retriable_status_codes.extend(retry.status_codes)
    if retry.per_try_timeout_ms is not None:
        policy.per_try_timeout.CopyFrom(_duration(retry.per_try_timeout_ms))
    if retry.backoff_base_ms is not None:
        policy.retry_back_off.base_interval.CopyFrom(_duration(retry.backoff_base_ms))
        if retry.backoff_max_ms is not None:
            policy.retry_back_off.max_interval.CopyFrom(_duration(retry.backoff_max_ms))


def hash_policies(policy: ir.HashPolicy) -> list[Any]:
    found: list[Any] = []
    if policy.source_ip:
        found.append(
            rc.RouteAction.HashPolicy(
                connection_properties=rc.RouteAction.HashPolicy.ConnectionProperties(source_ip=True)
            )
        )
    for header in policy.headers:
        found.append(rc.RouteAction.HashPolicy(header=rc.RouteAction.HashPolicy.Header(header_name=header)))
    for name in policy.query_params:
        found.append(rc.RouteAction.HashPolicy(query_parameter=rc.RouteAction.HashPolicy.QueryParameter(name=name)))
    if policy.cookie is not None:
        cookie = rc.RouteAction.HashPolicy.Cookie(name=policy.cookie.name)
        if policy.cookie.ttl_ms is not None:
            cookie.ttl.CopyFrom(_duration(policy.cookie.ttl_ms))
        cookie.attributes.extend(
            rc.RouteAction.HashPolicy.CookieAttribute(name=k, value=v) for k, v in policy.cookie.attributes
        )
        found.append(rc.RouteAction.HashPolicy(cookie=cookie))
    return found


def fault_config(fault: ir.Fault) -> Any:
    """The fault filter's per-route configuration."""
    config = fault_pb2.HTTPFault()
    if fault.delay is not None:
        config.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=_duration(fault.delay.fixed_delay_ms), percentage=_percent(fault.delay.percentage)
            )
        )
    if fault.abort is not None:
        abort = fault_pb2.FaultAbort(percentage=_percent(fault.abort.percentage))
        if fault.abort.grpc_status is not None:
            abort.grpc_status = fault.abort.grpc_status
        else:
            abort.http_status = fault.abort.http_status or 500
        config.abort.CopyFrom(abort)
    return packed(config)


def optional_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The optional HTTP filters a connection manager needs for its routes (before rate limits and the
    router); each does nothing on routes without their per-route configuration."""
    filters = []
    if "fault" in names:
        filters.append(hcm.HttpFilter(name=FAULT_FILTER, typed_config=packed(fault_pb2.HTTPFault())))
    return filters


# --- cluster -------------------------------------------------------------------------------------------------

_LOOKUP_FAMILIES = {
    "IPv4": cluster_pb2.Cluster.V4_ONLY,
    "IPv6": cluster_pb2.Cluster.V6_ONLY,
    "IPv4Preferred": cluster_pb2.Cluster.V4_PREFERRED,
    "IPv6Preferred": cluster_pb2.Cluster.AUTO,
    "IPv4AndIPv6": cluster_pb2.Cluster.ALL,
}

_LB_POLICIES = {
    "RoundRobin": cluster_pb2.Cluster.ROUND_ROBIN,
    "LeastRequest": cluster_pb2.Cluster.LEAST_REQUEST,
    "Random": cluster_pb2.Cluster.RANDOM,
    "ConsistentHash": cluster_pb2.Cluster.MAGLEV,
}


def apply_cluster_settings(cluster: Any, settings: ir.ClusterSettings, *, http2: bool) -> None:
    """Set `settings` on `cluster` (built for the destination, HTTP/2 when `http2`)."""
    balancer = settings.load_balancer
    if balancer is not None and needs_typed_policy(balancer):
        cluster.load_balancing_policy.CopyFrom(load_balancing_policy(balancer))
    elif balancer is not None:
        cluster.lb_policy = _LB_POLICIES.get(balancer.type, cluster_pb2.Cluster.ROUND_ROBIN)
        if balancer.table_size is not None:
            cluster.maglev_lb_config.table_size.value = balancer.table_size
        if balancer.slow_start_window_ms is not None:
            slow_start = cluster_pb2.Cluster.SlowStartConfig(slow_start_window=_duration(balancer.slow_start_window_ms))
            if balancer.type == "LeastRequest":
                cluster.least_request_lb_config.slow_start_config.CopyFrom(slow_start)
            else:
                cluster.round_robin_lb_config.slow_start_config.CopyFrom(slow_start)
    if settings.connect_timeout_ms is not None:
        cluster.connect_timeout.CopyFrom(_duration(settings.connect_timeout_ms))
    if settings.circuit_breaker is not None:
        _circuit_breakers(cluster, settings.circuit_breaker)
    if settings.active_health_check is not None:
        cluster.health_checks.append(_health_check(settings.active_health_check))
    if settings.outlier_detection is not None:
        cluster.outlier_detection.CopyFrom(_outlier_detection(settings.outlier_detection))
    if settings.panic_threshold is not None:
        cluster.common_lb_config.healthy_panic_threshold.value = settings.panic_threshold
    if settings.buffer_limit_bytes is not None:
        cluster.per_connection_buffer_limit_bytes.value = settings.buffer_limit_bytes
    if settings.dns is not None and cluster.type == cluster_pb2.Cluster.STRICT_DNS:
        cluster.dns_refresh_rate.CopyFrom(_duration(settings.dns.refresh_rate_ms))
        cluster.respect_dns_ttl = settings.dns.respect_ttl
        if settings.dns.lookup_family is not None:
            cluster.dns_lookup_family = _LOOKUP_FAMILIES[settings.dns.lookup_family]
    if settings.tcp_keepalive is not None:
        cluster.upstream_connection_options.tcp_keepalive.CopyFrom(tcp_keepalive(settings.tcp_keepalive))
    if settings.proxy_protocol is not None:
        version = proxy_protocol_pb2.ProxyProtocolConfig.V2 if settings.proxy_protocol == "V2" else 0
        wrapped = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport(
            config=proxy_protocol_pb2.ProxyProtocolConfig(version=version),
            transport_socket=cluster.transport_socket
            if cluster.HasField("transport_socket")
            else base_pb2.TransportSocket(
                name="envoy.transport_sockets.raw_buffer", typed_config=packed(raw_buffer_pb2.RawBuffer())
            ),
        )
        cluster.transport_socket.CopyFrom(
            base_pb2.TransportSocket(
                name="envoy.transport_sockets.upstream_proxy_protocol", typed_config=packed(wrapped)
            )
        )


def http_protocol_options(settings: ir.ClusterSettings | None, *, http2: bool) -> Any | None:
    """The cluster's HttpProtocolOptions: HTTP/2 (with the policy's settings), the client's protocol, idle
    timeout and connection limits; None when everything is Envoy's default over HTTP/1.1."""
    options = http_protocol_options_pb2.HttpProtocolOptions()
    h2 = protocol_pb2.Http2ProtocolOptions()
    if settings is not None and settings.http2 is not None:
        h2 = http2_options(settings.http2)
    if settings is not None and settings.use_client_protocol:
        options.use_downstream_protocol_config.http_protocol_options.CopyFrom(protocol_pb2.Http1ProtocolOptions())
        options.use_downstream_protocol_config.http2_protocol_options.CopyFrom(h2)
    elif http2:
        options.explicit_http_config.http2_protocol_options.CopyFrom(h2)
    if settings is not None:
        common = options.common_http_protocol_options
        if settings.idle_timeout_ms is not None:
            common.idle_timeout.CopyFrom(_duration(settings.idle_timeout_ms))
        if settings.max_connection_duration_ms is not None:
            common.max_connection_duration.CopyFrom(_duration(settings.max_connection_duration_ms))
        breaker = settings.circuit_breaker
        if breaker is not None and breaker.max_requests_per_connection is not None:
            common.max_requests_per_connection.value = breaker.max_requests_per_connection
        if settings.admission_control is not None:
            options.http_filters.extend(upstream_http_filters(settings.admission_control))
    if options == http_protocol_options_pb2.HttpProtocolOptions():
        return None
    if not options.HasField("explicit_http_config") and not options.HasField("use_downstream_protocol_config"):
        options.explicit_http_config.http_protocol_options.CopyFrom(protocol_pb2.Http1ProtocolOptions())
    return packed(options)


def http2_options(settings: ir.HTTP2Settings) -> Any:
    options = protocol_pb2.Http2ProtocolOptions()
    if settings.initial_stream_window_size is not None:
        options.initial_stream_window_size.value = settings.initial_stream_window_size
    if settings.initial_connection_window_size is not None:
        options.initial_connection_window_size.value = settings.initial_connection_window_size
    if settings.max_concurrent_streams is not None:
        options.max_concurrent_streams.value = settings.max_concurrent_streams
    if settings.terminate_stream_on_invalid_message:
        options.override_stream_error_on_invalid_http_message.value = True
    return options


def tcp_keepalive(keepalive: ir.TCPKeepalive) -> Any:
    found = address_pb2.TcpKeepalive()
    if keepalive.probes is not None:
        found.keepalive_probes.value = keepalive.probes
    if keepalive.idle_time_s is not None:
        found.keepalive_time.value = keepalive.idle_time_s
    if keepalive.interval_s is not None:
        found.keepalive_interval.value = keepalive.interval_s
    return found


def _circuit_breakers(cluster: Any, breaker: ir.CircuitBreaker) -> None:
    thresholds = circuit_breaker_pb2.CircuitBreakers.Thresholds()
    for field, value in (
        ("max_connections", breaker.max_connections),
        ("max_pending_requests", breaker.max_pending_requests),
        ("max_requests", breaker.max_parallel_requests),
        ("max_retries", breaker.max_parallel_retries),
    ):
        if value is not None:
            getattr(thresholds, field).value = value
    cluster.circuit_breakers.thresholds.append(thresholds)
    if breaker.per_endpoint_max_connections is not None:
        per_host = circuit_breaker_pb2.CircuitBreakers.Thresholds(
            max_connections=wrappers_pb2.UInt32Value(value=breaker.per_endpoint_max_connections)
        )
        cluster.circuit_breakers.per_host_thresholds.append(per_host)


def _payload(payload: ir.HealthPayload) -> Any:
    if payload.binary_hex is not None:
        return health_check_pb2.HealthCheck.Payload(text=payload.binary_hex)
    return health_check_pb2.HealthCheck.Payload(text=(payload.text or "").encode().hex())


def _health_check(check: ir.ActiveHealthCheck) -> Any:
    found = health_check_pb2.HealthCheck(
        timeout=_duration(check.timeout_ms),
        interval=_duration(check.interval_ms),
        unhealthy_threshold=wrappers_pb2.UInt32Value(value=check.unhealthy_threshold),
        healthy_threshold=wrappers_pb2.UInt32Value(value=check.healthy_threshold),
    )
    if check.type == "HTTP":
        http = health_check_pb2.HealthCheck.HttpHealthCheck(path=check.path or "/", host=check.hostname or "")
        if check.method:
            http.method = base_pb2.RequestMethod.Value(check.method.upper())
        http.expected_statuses.extend(range_pb2.Int64Range(start=s, end=s + 1) for s in check.expected_statuses)
        if check.expected_response is not None:
            http.receive.append(_payload(check.expected_response))
        found.http_health_check.CopyFrom(http)
    elif check.type == "GRPC":
        found.grpc_health_check.CopyFrom(
            health_check_pb2.HealthCheck.GrpcHealthCheck(service_name=check.grpc_service or "")
        )
    else:
        tcp = health_check_pb2.HealthCheck.TcpHealthCheck()
        if check.send is not None:
            tcp.send.CopyFrom(_payload(check.send))
        if check.receive is not None:
            tcp.receive.append(_payload(check.receive))
        found.tcp_health_check.CopyFrom(tcp)
    return found


def _outlier_detection(outlier: ir.OutlierDetection) -> Any:
    found = outlier_detection_pb2.OutlierDetection(
        split_external_local_origin_errors=outlier.split_external_local_origin_errors
    )
    if outlier.interval_ms is not None:
        found.interval.CopyFrom(_duration(outlier.interval_ms))
    if outlier.base_ejection_time_ms is not None:
        found.base_ejection_time.CopyFrom(_duration(outlier.base_ejection_time_ms))
    for field, value in (
        ("consecutive_local_origin_failure", outlier.consecutive_local_origin_failures),
        ("consecutive_gateway_failure", outlier.consecutive_gateway_errors),
        ("consecutive_5xx", outlier.consecutive_5xx),
        ("max_ejection_percent", outlier.max_ejection_percent),
    ):
        if value is not None:
            getattr(found, field).value = value
    if outlier.consecutive_gateway_errors is not None:
        found.enforcing_consecutive_gateway_failure.value = 100
    return found
