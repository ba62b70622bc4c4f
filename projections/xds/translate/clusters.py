"""Destination -> Cluster (EDS, or STRICT_DNS for hostnames; TLS per its BackendTLSPolicy; a variant per set of
BackendTrafficPolicy settings) and ClusterLoadAssignment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import duration_pb2

from projections import ir
from projections.xds.translate.backendtraffic import apply_cluster_settings, http_protocol_options
from projections.xds.translate.clienttraffic import apply_tls_settings
from projections.xds.translate.names import cluster_name
from projections.xds.translate.packing import packed

CONNECT_TIMEOUT = duration_pb2.Duration(seconds=10)
DNS_REFRESH_RATE = duration_pb2.Duration(seconds=30)
HTTP2_APP_PROTOCOLS = frozenset({"h2c", "kubernetes.io/h2c", "gateway.envoyproxy.io/h2c", "grpc"})
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # BackendTLSPolicy's wellKnownCACertificates: System


def dns_cluster(
    name: str,
    host: str,
    port: int,
    *,
    http2: bool = False,
    connect_timeout: Any = CONNECT_TIMEOUT,
    v4_preferred: bool = True,
) -> Any:
    """A cluster of one `host:port` resolved by DNS (a collector, a JWKS or token endpoint, egd's own
    rate-limit service), speaking HTTP/2 when asked."""
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STRICT_DNS,
        connect_timeout=connect_timeout,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=address_pb2.Address(
                                    socket_address=address_pb2.SocketAddress(address=host, port_value=port)
                                )
                            )
                        )
                    ]
                )
            ],
        ),
    )
    if v4_preferred:
        cluster.dns_lookup_family = cluster_pb2.Cluster.V4_PREFERRED
    if http2:
        options = http_protocol_options(None, http2=True)
        cluster.typed_extension_protocol_options[_HTTP_PROTOCOL_OPTIONS].CopyFrom(options)
    return cluster


def endpoints_cluster(name: str, endpoints: Sequence[ir.CollectorEndpoint], *, http2: bool = False) -> Any:
    """A cluster of fixed endpoints (a tracing collector's backend): STATIC when they are all IPs, else
    STRICT_DNS; speaking HTTP/2 when asked."""
    lb_endpoints = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(address=e.address, port_value=e.port)
                )
            )
        )
        for e in endpoints
    ]
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=CONNECT_TIMEOUT,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=lb_endpoints)]
        ),
    )
    if any(e.fqdn for e in endpoints):
        cluster.type = cluster_pb2.Cluster.STRICT_DNS
        cluster.dns_lookup_family = cluster_pb2.Cluster.V4_PREFERRED
    if http2:
        options = http_protocol_options(None, http2=True)
        cluster.typed_extension_protocol_options[_HTTP_PROTOCOL_OPTIONS].CopyFrom(options)
    return cluster


def ads_source() -> Any:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def resolves_by_dns(destination: ir.Destination) -> bool:
    """Hostname endpoints: Envoy resolves them itself (STRICT_DNS), so there is no ClusterLoadAssignment."""
    return any(e.type == "FQDN" for e in destination.endpoints)


def speaks_http2(destination: ir.Destination) -> bool:
    return destination.app_protocol in HTTP2_APP_PROTOCOLS


def _address(endpoint: ir.Endpoint, protocol: str) -> Any:
    if endpoint.type == "Unix":
        return address_pb2.Address(pipe=address_pb2.Pipe(path=endpoint.address))
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(
            address=endpoint.address,
            port_value=endpoint.port,
            protocol=address_pb2.SocketAddress.UDP if protocol == "UDP" else address_pb2.SocketAddress.TCP,
        )
    )


def build_load_assignment(
    destination: ir.Destination, *, name: str | None = None, zone_weights: dict[str, int] | None = None
) -> Any:
    """The endpoints of `destination`, one locality per zone (in order of first appearance); named `name` (a
    cluster variant's) rather than the destination's, and with `zone_weights` as locality weights (a zone not
    listed weighs 1) for a variant that weighs zones."""
    zones: dict[str | None, list[Any]] = {}
    for endpoint in destination.endpoints:
        zones.setdefault(endpoint.zone, []).append(
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(address=_address(endpoint, destination.protocol))
            )
        )
    localities = []
    for zone, lb_endpoints in zones.items():
        locality = endpoint_components_pb2.LocalityLbEndpoints(
            locality=base_pb2.Locality(zone=zone) if zone else None, lb_endpoints=lb_endpoints
        )
        if zone_weights is not None:
            locality.load_balancing_weight.value = zone_weights.get(zone or "", 1)
        localities.append(locality)
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=name or destination.name, endpoints=localities)


def zone_weights(variant: ir.ClusterVariant) -> dict[str, int] | None:
    """The locality weights of `variant`'s endpoints, when its load balancer weighs zones: its endpoints are then
    a load assignment of its own, named by the variant."""
    balancer = variant.settings.load_balancer
    return balancer.zone_weight if balancer is not None and balancer.weighted_zones else None


def _upstream_tls(tls: ir.UpstreamTLS, http2: bool, defaults: ir.BackendTLSDefaults | None) -> Any:
    """TLS to the backend (BackendTLSPolicy): SNI, and its certificate verified against the CA for the name;
    with the EnvoyProxy's `backendTLS` parameters and client certificate (over SDS)."""
    validation = common_pb2.CertificateValidationContext(
        trusted_ca=base_pb2.DataSource(inline_string=tls.ca_certificate)
        if tls.ca_certificate is not None
        else base_pb2.DataSource(filename=SYSTEM_CA_BUNDLE)
    )
    names = tls.subject_alt_names or (("Hostname", tls.sni),)
    for kind, value in names:
        matcher = string_pb2.StringMatcher(exact=value)
        san_type = common_pb2.SubjectAltNameMatcher.URI if kind == "URI" else common_pb2.SubjectAltNameMatcher.DNS
        validation.match_typed_subject_alt_names.append(
            common_pb2.SubjectAltNameMatcher(san_type=san_type, matcher=matcher)
        )
    context = tls_pb2.UpstreamTlsContext(
        sni=tls.sni,
        common_tls_context=tls_pb2.CommonTlsContext(
            validation_context=validation, alpn_protocols=["h2"] if http2 else []
        ),
    )
    if defaults is not None:
        parameters = ir.TLSConfig(
            min_version=defaults.min_version,
            max_version=defaults.max_version,
            ciphers=defaults.ciphers,
            ecdh_curves=defaults.ecdh_curves,
            signature_algorithms=defaults.signature_algorithms,
            alpn_protocols=defaults.alpn_protocols or None,
        )
        apply_tls_settings(context, parameters)
        if defaults.client_certificate is not None:
            context.common_tls_context.tls_certificate_sds_secret_configs.append(
                secret_pb2.SdsSecretConfig(name=defaults.client_certificate.name, sds_config=ads_source())
            )
    return base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=packed(context))


def build_cluster(
    destination: ir.Destination,
    *,
    http2: bool = False,
    variant: ir.ClusterVariant | None = None,
    backend_tls: ir.BackendTLSDefaults | None = None,
    metrics: ir.Metrics | None = None,
) -> Any:
    """The cluster for `destination`; `http2` for the variant gRPC routes use (named `<destination>/h2`);
    `variant` for routes with a BackendTrafficPolicy's settings (named by the variant); `backend_tls` the
    EnvoyProxy's settings for a destination reached over TLS; `metrics` (the EnvoyProxy's) for per-endpoint and
    request/response size stats, as Envoy Gateway sets them on route clusters."""
    name = variant.name if variant is not None else cluster_name(destination.name, http2=http2)
    cluster = cluster_pb2.Cluster(name=name, connect_timeout=CONNECT_TIMEOUT)
    weights = zone_weights(variant) if variant is not None else None
    own_endpoints = name if weights is not None else None  # a variant that weighs zones
    if resolves_by_dns(destination):
        cluster.type = cluster_pb2.Cluster.STRICT_DNS
        cluster.dns_lookup_family = cluster_pb2.Cluster.V4_PREFERRED
        # Envoy Gateway's defaults, which a BackendTrafficPolicy's `dns` overrides
        cluster.dns_refresh_rate.CopyFrom(DNS_REFRESH_RATE)
        cluster.respect_dns_ttl = True
        cluster.load_assignment.CopyFrom(build_load_assignment(destination, name=own_endpoints, zone_weights=weights))
    else:
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_source())
        cluster.eds_cluster_config.service_name = own_endpoints or destination.name
    settings = variant.settings if variant is not None else None
    h2 = http2 or speaks_http2(destination)
    if destination.tls is not None:
        cluster.transport_socket.CopyFrom(_upstream_tls(destination.tls, h2, backend_tls))
    options = http_protocol_options(settings, http2=h2)
    if options is not None:
        cluster.typed_extension_protocol_options[_HTTP_PROTOCOL_OPTIONS].CopyFrom(options)
    if settings is not None:
        apply_cluster_settings(cluster, settings, http2=h2)
    if metrics is not None and metrics.tracks_cluster_stats:
        cluster.track_cluster_stats.per_endpoint_stats = metrics.per_endpoint_stats
        cluster.track_cluster_stats.request_response_sizes = metrics.request_response_sizes_stats
    return cluster


def build_split_cluster(
    name: str, backends: Sequence[tuple[ir.Destination, int]], metrics: ir.Metrics | None = None
) -> Any:
    """The cluster of a UDP route over several backends (Envoy's UDP proxy takes one cluster): its endpoints
    (`build_split_load_assignment`) are the backends', one locality each, weighted as the route weighs them, as
    Envoy Gateway merges a route's backends. Over EDS; resolved by DNS, with the endpoints inline, when a backend
    is (an fqdn Backend). `metrics` as for `build_cluster`."""
    cluster = cluster_pb2.Cluster(name=name, connect_timeout=CONNECT_TIMEOUT)
    if any(resolves_by_dns(destination) for destination, _ in backends):
        cluster.type = cluster_pb2.Cluster.STRICT_DNS
        cluster.dns_lookup_family = cluster_pb2.Cluster.V4_PREFERRED
        cluster.dns_refresh_rate.CopyFrom(DNS_REFRESH_RATE)
        cluster.respect_dns_ttl = True
        cluster.load_assignment.CopyFrom(build_split_load_assignment(name, backends))
    else:
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_source())
        cluster.eds_cluster_config.service_name = name
    cluster.common_lb_config.locality_weighted_lb_config.SetInParent()
    if metrics is not None and metrics.tracks_cluster_stats:
        cluster.track_cluster_stats.per_endpoint_stats = metrics.per_endpoint_stats
        cluster.track_cluster_stats.request_response_sizes = metrics.request_response_sizes_stats
    return cluster


def build_split_load_assignment(name: str, backends: Sequence[tuple[ir.Destination, int]]) -> Any:
    """The endpoints of `build_split_cluster(name)`: each backend's (destination, weight) as one locality."""
    localities = []
    for destination, weight in backends:
        locality = endpoint_components_pb2.LocalityLbEndpoints(
            locality=base_pb2.Locality(sub_zone=destination.name),
            lb_endpoints=[
                endpoint_components_pb2.LbEndpoint(
                    endpoint=endpoint_components_pb2.Endpoint(address=_address(endpoint, destination.protocol))
                )
                for endpoint in destination.endpoints
            ],
        )
        locality.load_balancing_weight.value = weight
        localities.append(locality)
    return endpoint_pb2.ClusterLoadAssignment(cluster_name=name, endpoints=localities)


def weighted_destinations(route: ir.L4Route) -> tuple[tuple[str, int], ...]:
    """The destinations `route` sends to, with their weights (added up per destination), in route order."""
    weights: dict[str, int] = {}
    for backend in route.backends:
        if backend.weight > 0:
            weights[backend.destination] = weights.get(backend.destination, 0) + backend.weight
    return tuple(weights.items())


UdpSplit = tuple[str, tuple[tuple[ir.Destination, int], ...]]
"""A UDP route's split cluster: its name, and the destinations with their weights."""


def udp_splits(gateway: ir.GatewayIR) -> list[UdpSplit]:
    """The UDP routes of `gateway` over several destinations (each a split cluster, `build_split_cluster`): their
    names, with the destinations and weights."""
    split_routes = [
        (route.name, weighted)
        for listener in gateway.l4
        if listener.protocol == "UDP" and listener.routes
        for route in listener.routes[:1]  # the one the listener serves (`listeners._udp_listener`)
        if len(weighted := weighted_destinations(route)) > 1
    ]
    if not split_routes:  # the common case: no destination looked up (this runs on every xDS build)
        return []
    by_name = {d.name: d for d in gateway.destinations}
    return [
        (
            name,
            tuple(
                (found, weight) for destination, weight in weighted if (found := by_name.get(destination)) is not None
            ),
        )
        for name, weighted in split_routes
    ]
