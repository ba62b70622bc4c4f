"""IR types: a Gateway's listeners, virtual hosts, routes and destinations.

Identity: `name` fields are stable across translations and unique within their parent:
  GatewayIR.name        `<namespace>/<gateway>`
  HTTPListener.name     `<namespace>/<gateway>/<listener>`
  VirtualHost.name      `<listener name>/<hostname>`
  HTTPRoute.name        `<kind>/<namespace>/<route>/rule/<i>/match/<j>` (unique within a virtual host)
  L4Route.name          `<kind>/<namespace>/<route>` (unique within a listener)
  Destination.name      `service/<namespace>/<name>/<port>` or `backend/<namespace>/<name>`
Content hash: `hash` is sha256 over the canonical JSON of the piece with `hash` blank (`hashed` fills it);
a parent's hash covers its children's hashes, so an unchanged hash means an unchanged subtree.
"""

from __future__ import annotations

import hashlib
import operator
from typing import TypeVar

import msgspec

from projections.ir.base import IRStruct
from projections.ir.extensions import ExtensionFilters, Extensions
from projections.ir.security import Security, SecurityFilters
from projections.ir.telemetry import Telemetry
from projections.ir.traffic import AdmissionControl, BandwidthLimit, Compression, DNSSettings, ResponseOverride


class AttachedPolicy(IRStruct, frozen=True, kw_only=True):
    """Room for policies: which policy object applies to this piece. Policy stages fill in what it means."""

    kind: str
    namespace: str
    name: str


class Certificate(IRStruct, frozen=True, kw_only=True):
    name: str  # `<namespace>/<secret>`
    certificate_chain: str
    private_key: str


class TLSConfig(IRStruct, frozen=True, kw_only=True):
    certificates: tuple[Certificate, ...] = ()
    # ClientTrafficPolicy's tls: versions (`1.2`...), ciphers, ALPN; client certificates (mTLS) must chain to
    # `client_ca` (PEM), unless `client_optional`
    min_version: str | None = None
    max_version: str | None = None
    ciphers: tuple[str, ...] = ()
    ecdh_curves: tuple[str, ...] = ()
    signature_algorithms: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] | None = None  # None: the default for the listener's protocol
    client_ca: str | None = None
    client_optional: bool = False
    # the TLS session resumption methods a ClientTrafficPolicy's tls.session allows (Stateful, Stateless); none
    # without one, as in Envoy Gateway
    session_resumption: tuple[str, ...] = ()


class UpstreamTLS(IRStruct, frozen=True, kw_only=True):
    """TLS from Envoy to a destination (BackendTLSPolicy): the server name to send and verify, and the CA
    certificates (PEM) its certificate must chain to, or the system's."""

    sni: str
    ca_certificate: str | None = None
    system_ca: bool = False
    subject_alt_names: tuple[tuple[str, str], ...] = ()  # (Hostname | URI, value); default: the SNI
    policy: str = ""  # `<namespace>/<name>` of the BackendTLSPolicy


class BackendTLSDefaults(IRStruct, frozen=True, kw_only=True):
    """The EnvoyProxy's `backendTLS`: the TLS parameters of every connection to a destination reached over TLS,
    and the client certificate Envoy presents to it (over SDS)."""

    client_certificate: Certificate | None = None
    min_version: str | None = None
    max_version: str | None = None
    ciphers: tuple[str, ...] = ()
    ecdh_curves: tuple[str, ...] = ()
    signature_algorithms: tuple[str, ...] = ()
    alpn_protocols: tuple[str, ...] = ()  # replace the protocol's default ALPN when set


class ClientSettings(IRStruct, frozen=True, kw_only=True):
    """How a listener treats its clients (ClientTrafficPolicy). `policy` is `<namespace>/<name>`."""

    policy: str
    tcp_keepalive: TCPKeepalive | None = None
    proxy_protocol: bool = False
    proxy_protocol_optional: bool = False
    connection_limit: int | None = None
    buffer_limit_bytes: int | None = None
    socket_buffer_limit_bytes: int | None = None  # the kernel's receive and send buffers of each connection
    idle_timeout_ms: int | None = None  # HTTP connection idle
    tcp_idle_timeout_ms: int | None = None  # TCP proxy idle
    max_accept_per_socket_event: int | None = None  # None: Envoy's default
    request_received_timeout_ms: int | None = None
    stream_idle_timeout_ms: int | None = None
    preserve_header_case: bool = False
    http10: bool = False
    http10_default_host: str | None = None
    enable_trailers: bool = False
    http2: HTTP2Settings | None = None
    http3: bool = False
    escaped_slashes_action: str | None = None
    merge_slashes: bool = True
    xff_num_trusted_hops: int | None = None
    xff_trusted_cidrs: tuple[str, ...] = ()
    custom_client_ip_header: str | None = None
    early_request_headers: HeaderModifier | None = None
    late_response_headers: HeaderModifier | None = None
    enable_envoy_headers: bool = False  # else the router adds no x-envoy-* headers
    xfcc_mode: str | None = None  # X-Forwarded-Client-Cert: Sanitize, ForwardOnly, AppendForward, ...
    xfcc_cert_details: tuple[str, ...] = ()  # Subject, Cert, Chain, DNS, URI (AppendForward, SanitizeSet)
    with_underscores_action: str | None = None
    preserve_request_id: bool = False
    health_check_path: str | None = None
    rate_limit_headers: bool = True  # X-RateLimit headers on responses of global rate limits


class PathMatch(IRStruct, frozen=True, kw_only=True):
    type: str  # Exact, PathPrefix, RegularExpression
    value: str


class HeaderMatch(IRStruct, frozen=True, kw_only=True):
    name: str
    value: str
    type: str = "Exact"


class QueryMatch(IRStruct, frozen=True, kw_only=True):
    name: str
    value: str
    type: str = "Exact"


class HeaderModifier(IRStruct, frozen=True, kw_only=True):
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


class Redirect(IRStruct, frozen=True, kw_only=True):
    scheme: str | None = None
    hostname: str | None = None
    port: int | None = None
    status_code: int = 302
    path_type: str | None = None  # ReplaceFullPath, ReplacePrefixMatch
    path_value: str | None = None


class RegexRewrite(IRStruct, frozen=True, kw_only=True):
    """Rewrite the path by a regular expression (RE2, as Envoy reads it); `substitution` may use `\\1`."""

    pattern: str
    substitution: str


class URLRewrite(IRStruct, frozen=True, kw_only=True):
    hostname: str | None = None
    hostname_from_header: str | None = None  # HTTPRouteFilter: the Host is taken from this request header
    hostname_from_backend: bool = False  # HTTPRouteFilter: the Host is the backend's (Envoy's auto host rewrite)
    path_type: str | None = None  # ReplaceFullPath, ReplacePrefixMatch
    path_value: str | None = None
    path_regex: RegexRewrite | None = None  # HTTPRouteFilter ReplaceRegexMatch


class DirectResponse(IRStruct, frozen=True, kw_only=True):
    status: int
    body: str = ""
    content_type: str | None = None


class CredentialInjection(IRStruct, frozen=True, kw_only=True):
    """HTTPRouteFilter `credentialInjection`: Envoy adds `credential` (the `credential` key of the Secret
    `secret`, `<namespace>/<name>`) to the request's `header`, replacing a value the client sent only with
    `overwrite`."""

    secret: str
    credential: bytes
    header: str = "Authorization"
    overwrite: bool = False

    @property
    def filter_key(self) -> str:
        """The route's `filters` entry: one credential injector per Secret, header and overwrite mode (all of
        them filter-level settings in Envoy)."""
        return f"credential_injector/{self.secret}/{self.header}/{'overwrite' if self.overwrite else 'keep'}"


class WeightedBackend(IRStruct, frozen=True, kw_only=True):
    destination: str  # a Destination.name in the same GatewayIR
    weight: int


class Mirror(IRStruct, frozen=True, kw_only=True):
    destination: str
    numerator: int = 100
    denominator: int = 100


class Timeouts(IRStruct, frozen=True, kw_only=True):
    request_ms: int | None = None
    backend_request_ms: int | None = None


class SessionPersistence(IRStruct, frozen=True, kw_only=True):
    """HTTPRoute rule `sessionPersistence`: the endpoint a session started on, kept in a cookie or a header
    named `name` (Envoy's stateful session filter); a Permanent cookie lives `ttl_ms`."""

    type: str  # Cookie, Header
    name: str
    ttl_ms: int | None = None


class RateLimitHeader(IRStruct, frozen=True, kw_only=True):
    name: str
    type: str = "Exact"  # Exact, RegularExpression, Distinct (global only: one bucket per value)
    value: str = ""
    invert: bool = False


class RateLimitSource(IRStruct, frozen=True, kw_only=True):
    cidr: str  # normalised network, `10.0.0.0/8`
    distinct: bool = False  # one bucket per client address in the range (global only)


class RateLimitCost(IRStruct, frozen=True, kw_only=True):
    """The hits a request adds to its rule's counter: a number, or Envoy's `format` (a number read from the
    request's dynamic metadata, `%DYNAMIC_METADATA(<namespace>:<key>)%`)."""

    number: int | None = None
    format: str = ""


class RateLimitRule(IRStruct, frozen=True, kw_only=True):
    """One rule of a BackendTrafficPolicy's rate limit: the requests it selects (every condition must hold)
    and the limit they share. `index` is the rule's position in the policy: descriptors are named by it."""

    index: int
    requests: int
    unit: str  # Second, Minute, Hour, Day, Month, Year
    headers: tuple[RateLimitHeader, ...] = ()
    methods: tuple[str, ...] = ()  # any of them
    methods_invert: tuple[str, ...] = ()  # none of them
    path: PathMatch | None = None
    path_invert: bool = False
    source: RateLimitSource | None = None
    cost: RateLimitCost | None = None  # hits added when the request arrives (default 1)
    response_cost: RateLimitCost | None = None  # hits added once the response is done (global only)
    shadow_mode: bool = False
    shared: bool = False  # one counter for every route the policy applies to (keyed by the policy)


class RateLimit(IRStruct, frozen=True, kw_only=True):
    """The rate limit that applies to a route: the most specific BackendTrafficPolicy's `rateLimit`.

    `policy` is `<namespace>/<name>` of that policy."""

    type: str  # Global, Local
    policy: str
    rules: tuple[RateLimitRule, ...] = ()


# --- BackendTrafficPolicy ------------------------------------------------------------------------------------


class HashCookie(IRStruct, frozen=True, kw_only=True):
    name: str
    ttl_ms: int | None = None
    attributes: tuple[tuple[str, str], ...] = ()


class HashPolicy(IRStruct, frozen=True, kw_only=True):
    """Consistent hashing of a route's requests: by client address, header values, a cookie or query params."""

    source_ip: bool = False
    headers: tuple[str, ...] = ()
    cookie: HashCookie | None = None
    query_params: tuple[str, ...] = ()


class Retry(IRStruct, frozen=True, kw_only=True):
    num_retries: int = 2
    retry_on: tuple[str, ...] = ()  # Envoy's x-envoy-retry-on (and grpc-retry-on) words
    status_codes: tuple[int, ...] = ()
    per_try_timeout_ms: int | None = None
    backoff_base_ms: int | None = None
    backoff_max_ms: int | None = None


class FaultDelay(IRStruct, frozen=True, kw_only=True):
    fixed_delay_ms: int
    percentage: float = 100.0


class FaultAbort(IRStruct, frozen=True, kw_only=True):
    http_status: int | None = None
    grpc_status: int | None = None
    percentage: float = 100.0


class Fault(IRStruct, frozen=True, kw_only=True):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class BackendUtilization(IRStruct, frozen=True, kw_only=True):
    """Envoy's client-side weighted round robin: endpoint weights from the ORCA load they report."""

    blackout_period_ms: int | None = None
    weight_expiration_period_ms: int | None = None
    weight_update_period_ms: int | None = None
    error_utilization_penalty: float | None = None  # a multiplier: Envoy Gateway's percent / 100
    metric_names: tuple[str, ...] = ()


class PreferLocalZone(IRStruct, frozen=True, kw_only=True):
    """Envoy's zone-aware routing: as much traffic as possible to the local zone, keeping the load even."""

    min_cluster_size: int = 6  # Envoy Gateway's default
    percentage_enabled: int | None = None  # None: Envoy's default (100%)
    force_min_endpoints: int | None = None  # every request to the local zone when it has this many endpoints


class ZoneWeight(IRStruct, frozen=True, kw_only=True):
    zone: str
    weight: int


class LoadBalancer(IRStruct, frozen=True, kw_only=True):
    type: str  # RoundRobin, LeastRequest, Random, ConsistentHash, BackendUtilization
    table_size: int | None = None  # ConsistentHash (Maglev)
    slow_start_window_ms: int | None = None
    backend_utilization: BackendUtilization | None = None
    prefer_local: PreferLocalZone | None = None
    # locality-weighted: each zone's share of the traffic (a zone not listed weighs 1)
    weighted_zones: tuple[ZoneWeight, ...] = ()
    override_host_headers: tuple[str, ...] = ()  # endpointOverride: the headers naming the endpoints to use

    @property
    def zone_weight(self) -> dict[str, int]:
        return {z.zone: z.weight for z in self.weighted_zones}


class CircuitBreaker(IRStruct, frozen=True, kw_only=True):
    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_parallel_requests: int | None = None
    max_parallel_retries: int | None = None
    max_requests_per_connection: int | None = None
    per_endpoint_max_connections: int | None = None


class HealthPayload(IRStruct, frozen=True, kw_only=True):
    text: str | None = None  # plain text (hex-encoded for Envoy by the xDS stage)
    binary_hex: str | None = None


class ActiveHealthCheck(IRStruct, frozen=True, kw_only=True):
    type: str  # HTTP, TCP, GRPC
    timeout_ms: int = 1000
    interval_ms: int = 3000
    unhealthy_threshold: int = 3
    healthy_threshold: int = 1
    path: str | None = None
    hostname: str | None = None
    method: str | None = None
    expected_statuses: tuple[int, ...] = ()
    expected_response: HealthPayload | None = None
    send: HealthPayload | None = None
    receive: HealthPayload | None = None
    grpc_service: str | None = None


class OutlierDetection(IRStruct, frozen=True, kw_only=True):
    split_external_local_origin_errors: bool = False
    interval_ms: int | None = None
    consecutive_local_origin_failures: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive_5xx: int | None = None
    base_ejection_time_ms: int | None = None
    max_ejection_percent: int | None = None


class TCPKeepalive(IRStruct, frozen=True, kw_only=True):
    probes: int | None = None
    idle_time_s: int | None = None
    interval_s: int | None = None


class HTTP2Settings(IRStruct, frozen=True, kw_only=True):
    initial_stream_window_size: int | None = None
    initial_connection_window_size: int | None = None
    max_concurrent_streams: int | None = None
    terminate_stream_on_invalid_message: bool = False


class ClusterSettings(IRStruct, frozen=True, kw_only=True):
    """How Envoy talks to a route's backends, from its BackendTrafficPolicy. Routes with settings reach their
    destinations through clusters of their own, named by `ClusterVariant.name`."""

    load_balancer: LoadBalancer | None = None
    connect_timeout_ms: int | None = None
    idle_timeout_ms: int | None = None
    max_connection_duration_ms: int | None = None
    circuit_breaker: CircuitBreaker | None = None
    active_health_check: ActiveHealthCheck | None = None
    outlier_detection: OutlierDetection | None = None
    panic_threshold: int | None = None
    buffer_limit_bytes: int | None = None
    tcp_keepalive: TCPKeepalive | None = None
    proxy_protocol: str | None = None  # V1, V2
    http2: HTTP2Settings | None = None
    use_client_protocol: bool = False
    dns: DNSSettings | None = None  # hostname (STRICT_DNS) destinations only
    admission_control: AdmissionControl | None = None


class ClusterVariant(IRStruct, frozen=True, kw_only=True):
    """A destination reached with settings of its own: one cluster, `<destination>/<settings id>[/h2]`."""

    name: str
    destination: str
    settings: ClusterSettings
    http2: bool = False
    hash: str = ""


# What routes accept without a BackendTrafficPolicy `httpUpgrade`: WebSocket, as in Envoy Gateway.
DEFAULT_UPGRADES = ("websocket",)


class HTTPRoute(IRStruct, frozen=True, kw_only=True):
    name: str
    hostname: str
    grpc: bool = False
    path: PathMatch | None = None
    method: str | None = None
    headers: tuple[HeaderMatch, ...] = ()
    query_params: tuple[QueryMatch, ...] = ()
    backends: tuple[WeightedBackend, ...] = ()
    # Share of traffic (in the same weight units as `backends`) answered with HTTP 500: the weight of invalid
    # or missing backends, as Gateway API requires.
    invalid_backend_weight: int = 0
    direct_response: DirectResponse | None = None
    redirect: Redirect | None = None
    url_rewrite: URLRewrite | None = None
    request_headers: HeaderModifier | None = None
    response_headers: HeaderModifier | None = None
    mirrors: tuple[Mirror, ...] = ()
    timeouts: Timeouts | None = None
    policies: tuple[AttachedPolicy, ...] = ()
    rate_limit: RateLimit | None = None
    security: Security | None = None  # the winning SecurityPolicy's
    extensions: Extensions | None = None  # the winning EnvoyExtensionPolicy's
    retry: Retry | None = None
    fault: Fault | None = None
    hash_policy: HashPolicy | None = None
    session_persistence: SessionPersistence | None = None
    request_timeout_ms: int | None = None  # BackendTrafficPolicy's, when the route sets no timeout itself
    max_stream_duration_ms: int | None = None
    cluster_settings: str | None = None  # the settings id of the ClusterVariants its backends go through
    compression: tuple[Compression, ...] = ()
    response_override: ResponseOverride | None = None
    request_buffer_bytes: int | None = None
    upgrades: tuple[str, ...] = DEFAULT_UPGRADES  # HTTP upgrade types the route allows
    bandwidth_limit: BandwidthLimit | None = None
    credential_injection: CredentialInjection | None = None
    # Optional HTTP filters the route needs in its connection manager (`fault`, `custom_response`, `buffer`,
    # `Compression.filter_key`)
    filters: tuple[str, ...] = ()
    hash: str = ""


class VirtualHost(IRStruct, frozen=True, kw_only=True):
    name: str
    hostname: str  # `*` when the listener and its routes leave the host open
    routes: tuple[HTTPRoute, ...] = ()  # in Gateway API precedence order: the first match wins
    rate_limit_types: tuple[str, ...] = ()  # the rate limit types (Global, Local) its routes use, sorted
    security_filters: SecurityFilters | None = None  # the security filters its routes use
    extension_filters: ExtensionFilters | None = None  # the extension filters its routes use
    filters: tuple[str, ...] = ()  # the union of its routes' `filters`, sorted
    hash: str = ""


class HTTPListener(IRStruct, frozen=True, kw_only=True):
    name: str
    address: str
    port: int
    hostname: str | None = None  # the listener's hostname (the SNI to match for HTTPS)
    tls: TLSConfig | None = None  # present for HTTPS listeners
    virtual_hosts: tuple[VirtualHost, ...] = ()
    policies: tuple[AttachedPolicy, ...] = ()
    rate_limit_types: tuple[str, ...] = ()  # the union of its virtual hosts': which HTTP filters it needs
    security_filters: SecurityFilters | None = None  # the union of its virtual hosts'
    extension_filters: ExtensionFilters | None = None  # the union of its virtual hosts'
    filters: tuple[str, ...] = ()  # the union of its virtual hosts' optional HTTP filters
    client: ClientSettings | None = None
    hash: str = ""


class L4Route(IRStruct, frozen=True, kw_only=True):
    name: str
    sni_hostnames: tuple[str, ...] = ()  # TLSRoute only: server names this route matches
    backends: tuple[WeightedBackend, ...] = ()
    invalid_backend_weight: int = 0
    hash: str = ""


class L4Listener(IRStruct, frozen=True, kw_only=True):
    """A TCP, UDP or TLS passthrough listener."""

    name: str
    protocol: str  # TCP, UDP, TLS
    address: str
    port: int
    hostname: str | None = None
    tls: TLSConfig | None = None  # a TLS listener that terminates
    routes: tuple[L4Route, ...] = ()
    client: ClientSettings | None = None
    hash: str = ""


class Endpoint(IRStruct, frozen=True, kw_only=True):
    address: str  # an IP, a hostname (fqdn) or a unix socket path
    port: int = 0
    type: str = "IP"  # IP, FQDN, Unix
    zone: str | None = None


class Destination(IRStruct, frozen=True, kw_only=True):
    name: str
    protocol: str = "TCP"  # TCP, UDP
    app_protocol: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    policies: tuple[AttachedPolicy, ...] = ()
    tls: UpstreamTLS | None = None
    hash: str = ""


class EnvoyPatch(IRStruct, frozen=True, kw_only=True):
    """One JSON patch operation of an EnvoyPatchPolicy on one generated xDS resource (RFC 6902 on the proto3
    JSON of the resource, field names as in the .proto). `value` is the JSON text of the operation's value."""

    policy: str  # `<namespace>/<name>` of the EnvoyPatchPolicy
    type_url: str
    name: str
    op: str  # add, remove, replace, move, copy, test
    path: str
    from_path: str | None = None
    value: str | None = None


class GatewayIR(IRStruct, frozen=True, kw_only=True):
    name: str
    addresses: tuple[str, ...] = ()
    http: tuple[HTTPListener, ...] = ()
    l4: tuple[L4Listener, ...] = ()
    destinations: tuple[Destination, ...] = ()
    envoy_patches: tuple[EnvoyPatch, ...] = ()  # in the order they apply: by policy priority, then name
    cluster_variants: tuple[ClusterVariant, ...] = ()
    telemetry: Telemetry | None = None  # from the EnvoyProxy of the Gateway or its GatewayClass
    backend_tls: BackendTLSDefaults | None = None  # likewise
    hash: str = ""


_encoder = msgspec.json.Encoder(order="sorted")
_gateway_decoder = msgspec.json.Decoder(GatewayIR)

Hashable = TypeVar(
    "Hashable", HTTPRoute, VirtualHost, HTTPListener, L4Route, L4Listener, Destination, ClusterVariant, GatewayIR
)


# The children of each piece: a parent's hash covers its own fields and its children's hashes, never their
# content again, so hashing a parent whose children are already hashed costs one short encode.
_CHILDREN: dict[type, tuple[str, ...]] = {}
_hash_of = operator.attrgetter("hash")


def content_hash(piece: msgspec.Struct) -> str:
    """sha256 over the canonical JSON of `piece` without its children and `hash` (which must be blank),
    followed by its children's hashes."""
    fields = _CHILDREN.get(type(piece), ())
    shell = msgspec.structs.replace(piece, **{name: () for name in fields}) if fields else piece
    digest = hashlib.sha256(_encoder.encode(shell))
    for name in fields:
        digest.update("".join(map(_hash_of, getattr(piece, name))).encode())
    return digest.hexdigest()[:32]


def hashed(piece: Hashable) -> Hashable:
    """`piece` with its `hash` field set to the hash of its content."""
    blank = msgspec.structs.replace(piece, hash="") if piece.hash else piece
    return msgspec.structs.replace(blank, hash=content_hash(blank))


def encode_gateway_ir(ir: GatewayIR) -> bytes:
    """Canonical bytes: the same IR gives the same bytes on every run and replica."""
    return _encoder.encode(ir)


def decode_gateway_ir(data: bytes) -> GatewayIR:
    return _gateway_decoder.decode(data)


_CHILDREN.update(
    {
        VirtualHost: ("routes",),
        HTTPListener: ("virtual_hosts",),
        L4Listener: ("routes",),
        GatewayIR: ("http", "l4", "destinations", "cluster_variants"),
    }
)
