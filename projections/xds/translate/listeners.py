"""The IR listeners bound to one socket -> one Listener.

Gateway listeners that share a port share an Envoy Listener: the plain-HTTP ones one filter chain (an
HTTP connection manager reading its routes over RDS), every HTTPS listener its own filter chain matched
by SNI with its certificates over SDS, TLS passthrough routes one chain each matched by SNI, a TCP or
terminated-TLS listener a TCP proxy chain. UDP listeners get a UDP proxy listener filter.

HTTP/3 (ClientTrafficPolicy `http3`): the HTTPS listeners of a port that enable it get a QUIC listener on
the same port over UDP, as in Envoy Gateway: one filter chain per listener matched by SNI, the QUIC
transport socket with the same certificates over SDS, an HTTP/3 connection manager reading the same route
configuration (which advertises it with `alt-svc`, see `translate.routes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from envoy.config.core.v3 import address_pb2, base_pb2, protocol_pb2, udp_socket_config_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2, quic_config_pb2, udp_listener_config_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2 as udp_route_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import udp_proxy_pb2
from envoy.extensions.transport_sockets.quic.v3 import quic_transport_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2
from xds.core.v3 import extension_pb2
from xds.type.matcher.v3 import matcher_pb2

from projections import ir
from projections.ir.extensions import ExtensionFilters, merge_extension_filters
from projections.ir.security import SecurityFilters, merge_filters
from projections.xds.translate.backendtraffic import optional_http_filters
from projections.xds.translate.bandwidth import bandwidth_limit_http_filters
from projections.xds.translate.clienttraffic import (
    apply_connection_manager_settings,
    apply_listener_settings,
    apply_session_resumption,
    apply_tls_settings,
    client_health_check_filters,
    client_late_header_filters,
    connection_limit_filter,
)
from projections.xds.translate.clusters import ads_source, weighted_destinations
from projections.xds.translate.credentials import credential_injector_http_filters
from projections.xds.translate.extensions import with_extension_filters
from projections.xds.translate.names import INVALID_BACKEND_CLUSTER, cluster_name, listener_name
from projections.xds.translate.packing import packed
from projections.xds.translate.ratelimits import XdsSettings, http_filters
from projections.xds.translate.security import security_http_filters
from projections.xds.translate.sessions import session_http_filters
from projections.xds.translate.telemetry import access_logs, apply_http_telemetry
from projections.xds.translate.trafficfilters import buffer_http_filters, leading_http_filters, trailing_http_filters

_TLS_SOCKET = "envoy.transport_sockets.tls"
_QUIC_SOCKET = "envoy.transport_sockets.quic"


def _stat_prefix(name: str) -> str:
    return name.replace("/", "-")


class SocketGroup:
    """The IR listeners bound to one (transport, address, port), in IR order. Transport `quic`: the HTTPS
    listeners of a TCP port that serve HTTP/3 too, over UDP."""

    def __init__(
        self, gateway: str, transport: str, address: str, port: int, telemetry: ir.Telemetry | None = None
    ) -> None:
        self.gateway = gateway
        self.telemetry = telemetry  # the Gateway's access logs and tracing
        self.transport = transport
        self.address = address
        self.port = port
        self.http: list[ir.HTTPListener] = []
        self.https: list[ir.HTTPListener] = []
        self.l4: list[ir.L4Listener] = []

    @property
    def name(self) -> str:
        return listener_name(self.gateway, self.transport, self.address, self.port)


def _http_filter_chain(
    name: str,
    route_configuration: str,
    tls: Any = None,
    server_names: Sequence[str] = (),
    filters: Sequence[Any] = (),
    client: ir.ClientSettings | None = None,
    telemetry: ir.Telemetry | None = None,
    transport_socket: str = _TLS_SOCKET,
) -> Any:
    # no x-envoy-* headers unless a ClientTrafficPolicy enables them, as in Envoy Gateway
    router = router_pb2.Router(suppress_envoy_headers=client is None or not client.enable_envoy_headers)
    manager = hcm.HttpConnectionManager(
        stat_prefix=_stat_prefix(route_configuration),
        rds=hcm.Rds(config_source=ads_source(), route_config_name=route_configuration),
        http_filters=[*filters, hcm.HttpFilter(name="envoy.filters.http.router", typed_config=packed(router))],
    )
    if client is not None:
        apply_connection_manager_settings(manager, client)
    if transport_socket == _QUIC_SOCKET:
        manager.codec_type = hcm.HttpConnectionManager.HTTP3
        manager.http3_protocol_options.CopyFrom(protocol_pb2.Http3ProtocolOptions())
    # Envoy Gateway's client address: the peer's, or X-Forwarded-For's past the trusted hops; an original IP
    # detection extension decides it instead when one is configured.
    if not manager.original_ip_detection_extensions:
        manager.use_remote_address.value = True
    apply_http_telemetry(manager, telemetry)
    chain = lc.FilterChain(
        name=name,
        filters=[
            *connection_limit_filter(client, _stat_prefix(name)),
            lc.Filter(name="envoy.filters.network.http_connection_manager", typed_config=packed(manager)),
        ],
    )
    _secure(chain, tls, server_names, transport_socket)
    return chain


def _secure(chain: Any, tls: Any, server_names: Sequence[str], transport_socket: str = _TLS_SOCKET) -> None:
    if server_names:
        chain.filter_chain_match.server_names.extend(server_names)
    if tls is not None:
        chain.transport_socket.CopyFrom(base_pb2.TransportSocket(name=transport_socket, typed_config=tls))


def _downstream_tls(config: ir.TLSConfig, *, http: bool) -> Any:
    context = tls_pb2.DownstreamTlsContext(
        common_tls_context=tls_pb2.CommonTlsContext(
            tls_certificate_sds_secret_configs=[
                secret_pb2.SdsSecretConfig(name=c.name, sds_config=ads_source()) for c in config.certificates
            ],
            alpn_protocols=["h2", "http/1.1"] if http else [],
        )
    )
    apply_tls_settings(context, config)
    apply_session_resumption(context, config)
    return packed(context)


def _quic_tls(config: ir.TLSConfig) -> Any:
    """The QUIC transport socket's TLS: QUIC is TLS 1.3 with ALPN `h3`, so the policy's versions and ALPN
    do not apply; its ciphers, curves, signature algorithms and client validation do."""
    context = tls_pb2.DownstreamTlsContext(
        common_tls_context=tls_pb2.CommonTlsContext(
            tls_certificate_sds_secret_configs=[
                secret_pb2.SdsSecretConfig(name=c.name, sds_config=ads_source()) for c in config.certificates
            ],
            alpn_protocols=["h3"],
        )
    )
    apply_tls_settings(
        context, msgspec.structs.replace(config, min_version=None, max_version=None, alpn_protocols=None)
    )
    return packed(quic_transport_pb2.QuicDownstreamTransport(downstream_tls_context=context))


def _tcp_proxy(
    name: str, route: ir.L4Route | None, telemetry: ir.Telemetry | None = None, client: ir.ClientSettings | None = None
) -> Any:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=_stat_prefix(name), access_log=access_logs(telemetry))
    if client is not None and client.tcp_idle_timeout_ms is not None:
        proxy.idle_timeout.FromMilliseconds(client.tcp_idle_timeout_ms)
    weights: dict[str, int] = {}
    for backend in route.backends if route is not None else ():
        if backend.weight > 0:
            name = cluster_name(backend.destination)
            weights[name] = weights.get(name, 0) + backend.weight
    if route is not None and route.invalid_backend_weight and weights:
        weights[INVALID_BACKEND_CLUSTER] = route.invalid_backend_weight
    if len(weights) > 1:
        proxy.weighted_clusters.clusters.extend(
            tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(name=n, weight=w) for n, w in weights.items()
        )
    else:
        # No valid backend: a cluster that does not exist, so Envoy closes each connection.
        proxy.cluster = next(iter(weights), INVALID_BACKEND_CLUSTER)
    return lc.Filter(name="envoy.filters.network.tcp_proxy", typed_config=packed(proxy))


def _address(group: SocketGroup) -> Any:
    protocol = address_pb2.SocketAddress.UDP if group.transport in ("udp", "quic") else address_pb2.SocketAddress.TCP
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=group.address, port_value=group.port, protocol=protocol)
    )


def _udp_listener(group: SocketGroup) -> Any:
    listener = group.l4[0]
    route = listener.routes[0] if listener.routes else None
    weighted = weighted_destinations(route) if route is not None else ()
    if route is not None and len(weighted) > 1:
        target = route.name  # the route's split cluster (`clusters.udp_splits`): the UDP proxy takes one cluster
    else:
        target = cluster_name(weighted[0][0]) if weighted else INVALID_BACKEND_CLUSTER
    action = extension_pb2.TypedExtensionConfig(name="route", typed_config=packed(udp_route_pb2.Route(cluster=target)))
    proxy = udp_proxy_pb2.UdpProxyConfig(
        stat_prefix=_stat_prefix(listener.name),
        matcher=matcher_pb2.Matcher(on_no_match=matcher_pb2.Matcher.OnMatch(action=action)),
    )
    return listener_pb2.Listener(
        name=group.name,
        address=_address(group),
        udp_listener_config=udp_listener_config_pb2.UdpListenerConfig(),
        listener_filters=[lc.ListenerFilter(name="envoy.filters.udp_listener.udp_proxy", typed_config=packed(proxy))],
    )


class _Chains:
    """Filter chains of one listener; a second chain with the same SNI match is dropped (Envoy would refuse it)."""

    def __init__(self) -> None:
        self.chains: list[Any] = []
        self._taken: set[str] = set()
        self._catch_all = False

    def claim(self, server_names: Sequence[str]) -> list[str] | None:
        if not server_names:
            if self._catch_all:
                return None
            self._catch_all = True
            return []
        free = [n for n in server_names if n not in self._taken]
        self._taken.update(free)
        return free or None


def rate_limit_types(listeners: Sequence[ir.HTTPListener]) -> tuple[str, ...]:
    """The rate limit types the routes of `listeners` use: which filters their connection manager needs."""
    return tuple(sorted({t for listener in listeners for t in listener.rate_limit_types}))


def _http_filters(
    optional: tuple[str, ...],
    security: SecurityFilters | None,
    rate_limits: tuple[str, ...],
    gateway: str,
    settings: XdsSettings,
    client: ir.ClientSettings | None,
    extensions: ExtensionFilters | None = None,
) -> list[Any]:
    """A connection manager's HTTP filters in Envoy Gateway's order: health check, custom response, fault, late
    response headers, the security filters (extension filters, Lua and ext_proc, before RBAC), stateful session,
    buffer, rate limits, bandwidth limits, credential injectors, compressors, the router. Traffic filters are
    named (`optional`), security filters carry listener-level configuration (JWT providers, ext_authz services),
    so each keeps its own IR field; the health check and response headers come from the listener's
    ClientTrafficPolicy."""
    return (
        client_health_check_filters(client)
        + leading_http_filters(optional)
        + optional_http_filters(optional)
        + client_late_header_filters(client)
        + with_extension_filters(security_http_filters(security), extensions)
        + session_http_filters(optional)
        + buffer_http_filters(optional)
        + http_filters(rate_limits, gateway, settings, rate_limit_headers=client is None or client.rate_limit_headers)
        + bandwidth_limit_http_filters(optional)
        + credential_injector_http_filters(optional)
        + trailing_http_filters(optional)
    )


def _https_filters(listener: ir.HTTPListener, gateway: str, settings: XdsSettings) -> list[Any]:
    """The HTTP filters of an HTTPS listener's connection manager (the same over TCP and over QUIC)."""
    return _http_filters(
        listener.filters,
        listener.security_filters,
        listener.rate_limit_types,
        gateway,
        settings,
        listener.client,
        listener.extension_filters,
    )


def build_listener(
    group: SocketGroup, http_route_configuration: str, settings: XdsSettings | None = None
) -> Any | None:
    """The Listener of `group`, or None when it would have nothing to serve."""
    if group.transport == "udp":
        return _udp_listener(group) if group.l4 and group.l4[0].routes else None
    settings = settings or XdsSettings()
    if group.transport == "quic":
        return _quic_listener(group, settings)
    chains = _Chains()
    if group.http and chains.claim(()) is not None:
        optional = tuple(sorted({f for x in group.http for f in x.filters}))
        security = merge_filters([x.security_filters for x in group.http])
        extensions = merge_extension_filters([x.extension_filters for x in group.http])
        client = next((x.client for x in group.http if x.client is not None), None)
        filters = _http_filters(
            optional, security, rate_limit_types(group.http), group.gateway, settings, client, extensions
        )
        chains.chains.append(
            _http_filter_chain(
                http_route_configuration,
                http_route_configuration,
                filters=filters,
                client=client,
                telemetry=group.telemetry,
            )
        )
    for listener in group.https:
        names = chains.claim([listener.hostname] if listener.hostname else [])
        if names is not None and listener.tls is not None:
            tls = _downstream_tls(listener.tls, http=True)
            filters = _https_filters(listener, group.gateway, settings)
            chains.chains.append(
                _http_filter_chain(listener.name, listener.name, tls, names, filters, listener.client, group.telemetry)
            )
    for l4 in group.l4:
        _add_l4_chains(chains, l4, group.telemetry)
    if not chains.chains:
        return None
    listener = listener_pb2.Listener(
        name=group.name,
        address=_address(group),
        filter_chains=chains.chains,
        access_log=access_logs(group.telemetry, "Listener"),
    )
    if group.https or any(g.protocol == "TLS" for g in group.l4):
        listener.listener_filters.append(
            lc.ListenerFilter(
                name="envoy.filters.listener.tls_inspector", typed_config=packed(tls_inspector_pb2.TlsInspector())
            )
        )
    clients = [x.client for x in (*group.http, *group.https)] + [x.client for x in group.l4]
    client = next((c for c in clients if c is not None), None)
    if client is not None:
        apply_listener_settings(listener, client)
    return listener


def _add_l4_chains(chains: _Chains, l4: ir.L4Listener, telemetry: ir.Telemetry | None) -> None:
    if l4.protocol == "TLS":  # one chain per route, by SNI: TLS ends here (Terminate) or passes through
        tls = _downstream_tls(l4.tls, http=False) if l4.tls is not None else None
        listener_names = [l4.hostname] if l4.hostname else []
        for route in l4.routes:
            # a route without hostnames of its own (a TCPRoute, say) takes the listener's
            names = chains.claim(list(route.sni_hostnames) or listener_names)
            if names is None:
                continue
            if tls is None:
                filters = [_tcp_proxy(route.name, route, telemetry)]
            else:
                limit = connection_limit_filter(l4.client, _stat_prefix(l4.name))
                filters = [*limit, _tcp_proxy(l4.name, route, telemetry, l4.client)]  # the listener's stats
            chain = lc.FilterChain(name=route.name, filters=filters)
            _secure(chain, tls, names)
            chains.chains.append(chain)
        return
    if not l4.routes:
        return
    names = chains.claim([])
    if names is None:
        return
    filters = [
        *connection_limit_filter(l4.client, _stat_prefix(l4.name)),
        _tcp_proxy(l4.name, l4.routes[0], telemetry, l4.client),
    ]
    chain = lc.FilterChain(name=l4.name, filters=filters)
    _secure(chain, None, names)
    chains.chains.append(chain)


def _quic_listener(group: SocketGroup, settings: XdsSettings) -> Any | None:
    """The QUIC listener of `group`'s HTTPS listeners: their TCP chains' twins, over UDP with HTTP/3. The
    socket-level client settings (keepalive, PROXY protocol, buffer limit) are TCP's and do not apply."""
    chains = _Chains()
    for listener in group.https:
        names = chains.claim([listener.hostname] if listener.hostname else [])
        if names is not None and listener.tls is not None:
            filters = _https_filters(listener, group.gateway, settings)
            chains.chains.append(
                _http_filter_chain(
                    listener.name,
                    listener.name,
                    _quic_tls(listener.tls),
                    names,
                    filters,
                    listener.client,
                    group.telemetry,
                    transport_socket=_QUIC_SOCKET,
                )
            )
    if not chains.chains:
        return None
    return listener_pb2.Listener(
        name=group.name,
        address=_address(group),
        filter_chains=chains.chains,
        udp_listener_config=udp_listener_config_pb2.UdpListenerConfig(
            downstream_socket_config=udp_socket_config_pb2.UdpSocketConfig(),
            quic_options=quic_config_pb2.QuicProtocolOptions(),
        ),
    )
