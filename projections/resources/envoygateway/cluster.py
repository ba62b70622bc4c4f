"""ClusterSettings: how Envoy talks to a backend (load balancing, retries, timeouts, circuit breaking, health
checks, keepalive...). Inlined in BackendTrafficPolicy's spec and used by Backend-backed auxiliary services,
whose backends are a `BackendCluster`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources import references
from projections.resources.meta import K8sModel
from projections.resources.quantities import Duration, PositiveUInt32, Quantity, UInt32

HTTPStatus = Annotated[int, msgspec.Meta(ge=100, le=599)]


class Named(K8sModel, frozen=True, kw_only=True):
    name: str


class Cookie(K8sModel, frozen=True, kw_only=True):
    name: str
    ttl: Duration | None = None
    attributes: dict[str, str] = {}


class ConsistentHash(K8sModel, frozen=True, kw_only=True):
    type: Literal["SourceIP", "Header", "Headers", "Cookie", "QueryParams"]
    header: Named | None = None  # deprecated in favour of headers
    headers: tuple[Named, ...] = ()
    cookie: Cookie | None = None
    query_params: tuple[Named, ...] = ()
    table_size: Annotated[int, msgspec.Meta(ge=2, le=5_000_011)] | None = None

    def __post_init__(self) -> None:
        if self.type == "Header" and self.header is None:
            raise ValueError("consistent hashing of type Header needs header")
        if self.type == "Headers" and not self.headers:
            raise ValueError("consistent hashing of type Headers needs headers")
        if self.type == "Cookie" and self.cookie is None:
            raise ValueError("consistent hashing of type Cookie needs cookie")
        if self.type == "QueryParams" and not self.query_params:
            raise ValueError("consistent hashing of type QueryParams needs queryParams")


class SlowStart(K8sModel, frozen=True, kw_only=True):
    window: Duration


class BackendUtilization(K8sModel, frozen=True, kw_only=True):
    """Weights from the load the endpoints report (ORCA), as Envoy's client-side weighted round robin."""

    blackout_period: Duration | None = None
    weight_expiration_period: Duration | None = None
    weight_update_period: Duration | None = None
    error_utilization_penalty_percent: UInt32 | None = None  # 150: 1.5 x the error rate
    metric_names_for_computing_utilization: tuple[str, ...] = ()
    keep_response_headers: bool | None = None  # keep the ORCA response headers (removed by default)
    oob: dict[str, object] | None = None  # out-of-band reporting: read by nothing (Invalid)


class ForceLocalZone(K8sModel, frozen=True, kw_only=True):
    min_endpoints_in_zone_threshold: UInt32 | None = None


class PreferLocalZone(K8sModel, frozen=True, kw_only=True):
    force: ForceLocalZone | None = None
    min_endpoints_threshold: UInt32 | None = None
    percentage_enabled: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class WeightedZone(K8sModel, frozen=True, kw_only=True):
    zone: str
    weight: UInt32


class ZoneAware(K8sModel, frozen=True, kw_only=True):
    prefer_local: PreferLocalZone | None = None
    weighted_zones: tuple[WeightedZone, ...] = ()

    def __post_init__(self) -> None:
        if self.prefer_local is not None and self.weighted_zones:
            raise ValueError("zoneAware preferLocal and weightedZones cannot be specified together")
        zones = [z.zone for z in self.weighted_zones]
        if len(set(zones)) != len(zones):
            raise ValueError("duplicate zone names are not allowed in weightedZones")


class EndpointOverrideExtractFrom(K8sModel, frozen=True, kw_only=True):
    header: str | None = None  # its value: `IP:Port` or `IP:Port,IP:Port,...`


class EndpointOverride(K8sModel, frozen=True, kw_only=True):
    extract_from: Annotated[tuple[EndpointOverrideExtractFrom, ...], msgspec.Meta(min_length=1, max_length=10)]


class LoadBalancer(K8sModel, frozen=True, kw_only=True):
    type: Literal["ConsistentHash", "LeastRequest", "Random", "RoundRobin", "BackendUtilization"]
    consistent_hash: ConsistentHash | None = None
    backend_utilization: BackendUtilization | None = None
    slow_start: SlowStart | None = None
    zone_aware: ZoneAware | None = None
    endpoint_override: EndpointOverride | None = None

    def __post_init__(self) -> None:
        if self.type == "ConsistentHash" and self.consistent_hash is None:
            raise ValueError("a load balancer of type ConsistentHash needs consistentHash")
        if self.type == "BackendUtilization" and self.backend_utilization is None:
            raise ValueError("a load balancer of type BackendUtilization needs backendUtilization")
        if self.slow_start is not None and self.type not in ("RoundRobin", "LeastRequest", "BackendUtilization"):
            raise ValueError("slowStart works with RoundRobin, LeastRequest and BackendUtilization load balancers only")
        if self.type == "ConsistentHash" and self.zone_aware is not None and self.zone_aware.prefer_local is not None:
            raise ValueError("preferLocal zone-aware routing is not supported for ConsistentHash: use weightedZones")


RetryTrigger = Literal[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
]


class RetryOn(K8sModel, frozen=True, kw_only=True):
    triggers: tuple[RetryTrigger, ...] = ()
    http_status_codes: tuple[HTTPStatus, ...] = ()


class BackOffPolicy(K8sModel, frozen=True, kw_only=True):
    base_interval: Duration | None = None
    max_interval: Duration | None = None


class PerRetryPolicy(K8sModel, frozen=True, kw_only=True):
    timeout: Duration | None = None
    back_off: BackOffPolicy | None = None


class Retry(K8sModel, frozen=True, kw_only=True):
    num_retries: UInt32 | None = None  # Envoy Gateway's default: 2
    num_attempts_per_priority: UInt32 | None = None
    retry_on: RetryOn | None = None
    per_retry: PerRetryPolicy | None = None


class TCPTimeout(K8sModel, frozen=True, kw_only=True):
    connect_timeout: Duration | None = None


class HTTPTimeout(K8sModel, frozen=True, kw_only=True):
    connection_idle_timeout: Duration | None = None
    max_connection_duration: Duration | None = None
    request_timeout: Duration | None = None
    max_stream_duration: Duration | None = None


class Timeout(K8sModel, frozen=True, kw_only=True):
    tcp: TCPTimeout | None = None
    http: HTTPTimeout | None = None


class PerEndpointCircuitBreakers(K8sModel, frozen=True, kw_only=True):
    max_connections: UInt32 | None = None


class CircuitBreaker(K8sModel, frozen=True, kw_only=True):
    max_connections: UInt32 | None = None
    max_pending_requests: UInt32 | None = None
    max_parallel_requests: UInt32 | None = None
    max_parallel_retries: UInt32 | None = None
    max_requests_per_connection: UInt32 | None = None
    per_endpoint: PerEndpointCircuitBreakers | None = None


class ActiveHealthCheckPayload(K8sModel, frozen=True, kw_only=True):
    type: Literal["Text", "Binary"]
    text: str | None = None
    binary: str | None = None  # base64


class HTTPActiveHealthChecker(K8sModel, frozen=True, kw_only=True):
    path: str
    hostname: str | None = None
    method: str | None = None
    expected_statuses: tuple[HTTPStatus, ...] = ()
    expected_response: ActiveHealthCheckPayload | None = None


class TCPActiveHealthChecker(K8sModel, frozen=True, kw_only=True):
    send: ActiveHealthCheckPayload | None = None
    receive: ActiveHealthCheckPayload | None = None


class GRPCActiveHealthChecker(K8sModel, frozen=True, kw_only=True):
    service: str | None = None


class ActiveHealthCheck(K8sModel, frozen=True, kw_only=True):
    type: Literal["HTTP", "TCP", "GRPC"]
    timeout: Duration | None = None
    interval: Duration | None = None
    unhealthy_threshold: PositiveUInt32 | None = None
    healthy_threshold: PositiveUInt32 | None = None
    http: HTTPActiveHealthChecker | None = None
    tcp: TCPActiveHealthChecker | None = None
    grpc: GRPCActiveHealthChecker | None = None

    def __post_init__(self) -> None:
        if self.type == "HTTP" and self.http is None:
            raise ValueError("an active health check of type HTTP needs http")


class PassiveHealthCheck(K8sModel, frozen=True, kw_only=True):
    """Outlier detection."""

    split_external_local_origin_errors: bool | None = None
    interval: Duration | None = None
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = msgspec.field(default=None, name="consecutive5XxErrors")
    base_ejection_time: Duration | None = None
    max_ejection_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class HealthCheck(K8sModel, frozen=True, kw_only=True):
    active: ActiveHealthCheck | None = None
    passive: PassiveHealthCheck | None = None
    panic_threshold: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None


class TCPKeepalive(K8sModel, frozen=True, kw_only=True):
    probes: UInt32 | None = None
    idle_time: Duration | None = None
    interval: Duration | None = None


class ProxyProtocol(K8sModel, frozen=True, kw_only=True):
    version: Literal["V1", "V2"]


class BackendConnection(K8sModel, frozen=True, kw_only=True):
    buffer_limit: Quantity | None = None
    socket_buffer_limit: Quantity | None = None


class DNS(K8sModel, frozen=True, kw_only=True):
    dns_refresh_rate: Duration | None = None
    respect_dns_ttl: bool | None = None
    lookup_family: Literal["IPv4", "IPv6", "IPv4Preferred", "IPv6Preferred", "IPv4AndIPv6"] | None = None


class HTTP2Settings(K8sModel, frozen=True, kw_only=True):
    initial_stream_window_size: Quantity | None = None
    initial_connection_window_size: Quantity | None = None
    max_concurrent_streams: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None
    on_invalid_message: Literal["TerminateConnection", "TerminateStream"] | None = None


class ClusterSettings(K8sModel, frozen=True, kw_only=True):
    load_balancer: LoadBalancer | None = None
    retry: Retry | None = None
    proxy_protocol: ProxyProtocol | None = None
    tcp_keepalive: TCPKeepalive | None = None
    health_check: HealthCheck | None = None
    circuit_breaker: CircuitBreaker | None = None
    timeout: Timeout | None = None
    connection: BackendConnection | None = None
    dns: DNS | None = None
    http2: HTTP2Settings | None = None


class BackendRef(references.BackendRef, frozen=True, kw_only=True):
    """Envoy Gateway's backend reference: Gateway API's, which may be marked as a fallback."""

    fallback: bool | None = None


class BackendCluster(K8sModel, frozen=True, kw_only=True):
    """The backends of an auxiliary service (ext auth, remote JWKS, OIDC provider...).

    `backend_settings` is Envoy Gateway's ClusterSettings; kept untyped until translation reads it.
    """

    backend_ref: BackendRef | None = None  # deprecated in favour of backend_refs
    backend_refs: tuple[BackendRef, ...] = ()
    backend_settings: dict[str, object] | None = None

    @property
    def all_backend_refs(self) -> tuple[BackendRef, ...]:
        return (self.backend_ref,) if self.backend_ref is not None else self.backend_refs
