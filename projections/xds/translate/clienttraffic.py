"""ClientTrafficPolicy -> Envoy: a listener's socket options, listener filters, buffer limit and accepts per
socket event; a connection manager's timeouts, HTTP/1 and HTTP/2 options, path normalisation, client IP
detection, early header mutation and X-Forwarded-Client-Cert; its health check and late response header
filters; a connection limit filter; downstream TLS parameters, client certificate validation (mTLS) and
session resumption."""

from __future__ import annotations

from typing import Any

from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, extension_pb2, protocol_pb2, socket_option_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2 as http_header_mutation_pb2
from envoy.extensions.filters.http.health_check.v3 import health_check_pb2
from envoy.extensions.filters.listener.proxy_protocol.v3 import proxy_protocol_pb2
from envoy.extensions.filters.network.connection_limit.v3 import connection_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.http.early_header_mutation.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.http.header_formatters.preserve_case.v3 import preserve_case_pb2
from envoy.extensions.http.original_ip_detection.custom_header.v3 import custom_header_pb2
from envoy.extensions.http.original_ip_detection.xff.v3 import xff_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2
from envoy.type.matcher.v3 import string_pb2

from projections import ir
from projections.xds.translate.backendtraffic import _duration, http2_options
from projections.xds.translate.packing import packed

# Linux socket option numbers (what Envoy Gateway sets for TCP keepalive)
_SOL_SOCKET, _SO_KEEPALIVE = 1, 9
_SO_SNDBUF, _SO_RCVBUF = 7, 8
_IPPROTO_TCP, _TCP_KEEPIDLE, _TCP_KEEPINTVL, _TCP_KEEPCNT = 6, 4, 5, 6

_TLS_VERSIONS = {
    "1.0": common_pb2.TlsParameters.TLSv1_0,
    "1.1": common_pb2.TlsParameters.TLSv1_1,
    "1.2": common_pb2.TlsParameters.TLSv1_2,
    "1.3": common_pb2.TlsParameters.TLSv1_3,
}
_ESCAPED_SLASHES = {
    "KeepUnchanged": hcm.HttpConnectionManager.KEEP_UNCHANGED,
    "RejectRequest": hcm.HttpConnectionManager.REJECT_REQUEST,
    "UnescapeAndRedirect": hcm.HttpConnectionManager.UNESCAPE_AND_REDIRECT,
    "UnescapeAndForward": hcm.HttpConnectionManager.UNESCAPE_AND_FORWARD,
}
_FORWARD_CLIENT_CERT = {
    "Sanitize": hcm.HttpConnectionManager.SANITIZE,
    "ForwardOnly": hcm.HttpConnectionManager.FORWARD_ONLY,
    "AppendForward": hcm.HttpConnectionManager.APPEND_FORWARD,
    "SanitizeSet": hcm.HttpConnectionManager.SANITIZE_SET,
    "AlwaysForwardOnly": hcm.HttpConnectionManager.ALWAYS_FORWARD_ONLY,
}
_UNDERSCORES = {
    "Allow": protocol_pb2.HttpProtocolOptions.ALLOW,
    "RejectRequest": protocol_pb2.HttpProtocolOptions.REJECT_REQUEST,
    "DropHeader": protocol_pb2.HttpProtocolOptions.DROP_HEADER,
}


def apply_listener_settings(listener: Any, client: ir.ClientSettings) -> None:
    """Socket-level settings: keepalive, PROXY protocol from clients, buffer limits (Envoy's and the kernel's)."""
    keepalive = client.tcp_keepalive
    if keepalive is not None:
        options = [socket_option_pb2.SocketOption(level=_SOL_SOCKET, name=_SO_KEEPALIVE, int_value=1)]
        for name, value in (
            (_TCP_KEEPCNT, keepalive.probes),
            (_TCP_KEEPIDLE, keepalive.idle_time_s),
            (_TCP_KEEPINTVL, keepalive.interval_s),
        ):
            if value is not None:
                options.append(socket_option_pb2.SocketOption(level=_IPPROTO_TCP, name=name, int_value=value))
        listener.socket_options.extend(options)
    if client.proxy_protocol:
        config = proxy_protocol_pb2.ProxyProtocol(allow_requests_without_proxy_protocol=client.proxy_protocol_optional)
        listener.listener_filters.insert(
            0, lc.ListenerFilter(name="envoy.filters.listener.proxy_protocol", typed_config=packed(config))
        )
    if client.buffer_limit_bytes is not None:
        listener.per_connection_buffer_limit_bytes.value = client.buffer_limit_bytes
    if client.socket_buffer_limit_bytes is not None:  # set on the listening socket, inherited by each connection
        listener.socket_options.extend(
            socket_option_pb2.SocketOption(level=_SOL_SOCKET, name=name, int_value=client.socket_buffer_limit_bytes)
            for name in (_SO_RCVBUF, _SO_SNDBUF)
        )
    if client.max_accept_per_socket_event is not None:
        listener.max_connections_to_accept_per_socket_event.value = client.max_accept_per_socket_event


def connection_limit_filter(client: ir.ClientSettings | None, stat_prefix: str) -> list[Any]:
    if client is None or client.connection_limit is None:
        return []
    config = connection_limit_pb2.ConnectionLimit(stat_prefix=stat_prefix)
    config.max_connections.value = client.connection_limit
    return [lc.Filter(name="envoy.filters.network.connection_limit", typed_config=packed(config))]


def apply_connection_manager_settings(manager: Any, client: ir.ClientSettings) -> None:
    common = manager.common_http_protocol_options
    if client.idle_timeout_ms is not None:
        common.idle_timeout.CopyFrom(_duration(client.idle_timeout_ms))
    if client.with_underscores_action is not None:
        common.headers_with_underscores_action = _UNDERSCORES[client.with_underscores_action]
    if client.request_received_timeout_ms is not None:
        manager.request_timeout.CopyFrom(_duration(client.request_received_timeout_ms))
    if client.stream_idle_timeout_ms is not None:
        manager.stream_idle_timeout.CopyFrom(_duration(client.stream_idle_timeout_ms))
    http1 = manager.http_protocol_options
    if client.preserve_header_case:
        formatter = extension_pb2.TypedExtensionConfig(
            name="preserve_case", typed_config=packed(preserve_case_pb2.PreserveCaseFormatterConfig())
        )
        http1.header_key_format.stateful_formatter.CopyFrom(formatter)
    if client.http10:
        http1.accept_http_10 = True
        if client.http10_default_host:
            http1.default_host_for_http_10 = client.http10_default_host
    if client.enable_trailers:
        http1.enable_trailers = True
    if client.http2 is not None:
        manager.http2_protocol_options.CopyFrom(http2_options(client.http2))
    if client.escaped_slashes_action is not None:
        manager.path_with_escaped_slashes_action = _ESCAPED_SLASHES[client.escaped_slashes_action]
    manager.normalize_path.value = True
    manager.merge_slashes = client.merge_slashes
    if client.xff_num_trusted_hops is not None:
        manager.xff_num_trusted_hops = client.xff_num_trusted_hops
    if client.xff_trusted_cidrs:
        config = xff_pb2.XffConfig()
        for cidr in client.xff_trusted_cidrs:
            address, _, length = cidr.partition("/")
            config.xff_trusted_cidrs.cidrs.append(
                address_pb2.CidrRange(address_prefix=address, prefix_len={"value": int(length)})
            )
        name = "envoy.extensions.http.original_ip_detection.xff"
        manager.original_ip_detection_extensions.append(
            extension_pb2.TypedExtensionConfig(name=name, typed_config=packed(config))
        )
    if client.custom_client_ip_header is not None:
        config = custom_header_pb2.CustomHeaderConfig(header_name=client.custom_client_ip_header)
        manager.original_ip_detection_extensions.append(
            extension_pb2.TypedExtensionConfig(
                name="envoy.extensions.http.original_ip_detection.custom_header", typed_config=packed(config)
            )
        )
    if client.early_request_headers is not None:
        manager.early_header_mutation_extensions.append(_early_header_mutation(client.early_request_headers))
    if client.preserve_request_id:
        manager.preserve_external_request_id = True
    if client.xfcc_mode is not None:
        manager.forward_client_cert_details = _FORWARD_CLIENT_CERT[client.xfcc_mode]
        details = manager.set_current_client_cert_details
        for detail in client.xfcc_cert_details:
            if detail == "Subject":
                details.subject.value = True
            else:  # Cert, Chain, DNS, URI
                setattr(details, detail.lower(), True)


def client_health_check_filters(client: ir.ClientSettings | None) -> list[Any]:
    """Envoy answers the health check path itself (200, or 503 while draining), never asking a backend."""
    if client is None or client.health_check_path is None:
        return []
    path = rc.HeaderMatcher(name=":path", string_match=string_pb2.StringMatcher(exact=client.health_check_path))
    config = health_check_pb2.HealthCheck(headers=[path])
    config.pass_through_mode.value = False
    return [hcm.HttpFilter(name="envoy.filters.http.health_check", typed_config=packed(config))]


def client_late_header_filters(client: ir.ClientSettings | None) -> list[Any]:
    """The policy's late response headers, set by a header mutation filter on the responses that pass it."""
    if client is None or client.late_response_headers is None:
        return []
    mutations = http_header_mutation_pb2.Mutations(response_mutations=_header_mutations(client.late_response_headers))
    config = http_header_mutation_pb2.HeaderMutation(mutations=mutations)
    return [hcm.HttpFilter(name="envoy.filters.http.header_mutation", typed_config=packed(config))]


def _header_mutations(modifier: ir.HeaderModifier) -> list[Any]:
    mutations = [mutation_rules_pb2.HeaderMutation(remove=name) for name in modifier.remove]
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    append = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
    for (name, value), action in [(h, overwrite) for h in modifier.set] + [(h, append) for h in modifier.add]:
        option = base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=name, value=value), append_action=action)
        mutations.append(mutation_rules_pb2.HeaderMutation(append=option))
    return mutations


def _early_header_mutation(modifier: ir.HeaderModifier) -> Any:
    config = header_mutation_pb2.HeaderMutation(mutations=_header_mutations(modifier))
    return extension_pb2.TypedExtensionConfig(
        name="envoy.http.early_header_mutation.header_mutation", typed_config=packed(config)
    )


def apply_session_resumption(context: Any, config: ir.TLSConfig) -> None:
    """A listener's TLS resumes sessions only as its ClientTrafficPolicy allows (none by default, as in Envoy
    Gateway)."""
    context.disable_stateful_session_resumption = "Stateful" not in config.session_resumption
    context.disable_stateless_session_resumption = "Stateless" not in config.session_resumption


def apply_tls_settings(context: Any, config: ir.TLSConfig) -> None:
    """TLS versions, ciphers, curves, signature algorithms, ALPN and client certificate validation."""
    common = context.common_tls_context
    params = common_pb2.TlsParameters(
        cipher_suites=config.ciphers,
        ecdh_curves=config.ecdh_curves,
        signature_algorithms=config.signature_algorithms,
    )
    if config.min_version in _TLS_VERSIONS:
        params.tls_minimum_protocol_version = _TLS_VERSIONS[config.min_version]
    if config.max_version in _TLS_VERSIONS:
        params.tls_maximum_protocol_version = _TLS_VERSIONS[config.max_version]
    if params != common_pb2.TlsParameters():
        common.tls_params.CopyFrom(params)
    if config.alpn_protocols is not None:
        del common.alpn_protocols[:]
        common.alpn_protocols.extend(config.alpn_protocols)
    if config.client_ca is not None:
        common.validation_context.trusted_ca.CopyFrom(base_pb2.DataSource(inline_string=config.client_ca))
        context.require_client_certificate.value = not config.client_optional
