"""ClientTrafficPolicy: how Envoy treats connections and requests from clients on a Gateway's listeners."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.envoygateway.cluster import TCPKeepalive
from projections.resources.envoygateway.tls import ClientTLSSettings
from projections.resources.gatewayapi import HTTPHeaderFilter
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import PolicyTargetReferences
from projections.resources.quantities import CIDR, Duration, PositiveUInt32, Quantity, UInt32


class ClientTimeoutTCP(K8sModel, frozen=True, kw_only=True):
    idle_timeout: Duration | None = None


class ClientTimeoutHTTP(K8sModel, frozen=True, kw_only=True):
    request_received_timeout: Duration | None = None
    idle_timeout: Duration | None = None
    stream_idle_timeout: Duration | None = None


class ClientTimeout(K8sModel, frozen=True, kw_only=True):
    tcp: ClientTimeoutTCP | None = None
    http: ClientTimeoutHTTP | None = None


class ConnectionLimit(K8sModel, frozen=True, kw_only=True):
    value: PositiveUInt32
    close_delay: Duration | None = None


class ClientConnection(K8sModel, frozen=True, kw_only=True):
    connection_limit: ConnectionLimit | None = None
    buffer_limit: Quantity | None = None
    socket_buffer_limit: Quantity | None = None
    max_accept_per_socket_event: UInt32 | None = None


class HTTP10Settings(K8sModel, frozen=True, kw_only=True):
    use_default_host: bool | None = None


class HTTP1Settings(K8sModel, frozen=True, kw_only=True):
    enable_trailers: bool | None = None
    preserve_header_case: bool | None = None
    http10: HTTP10Settings | None = None


class HTTP2ClientSettings(K8sModel, frozen=True, kw_only=True):
    initial_stream_window_size: Quantity | None = None
    initial_connection_window_size: Quantity | None = None
    max_concurrent_streams: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None
    on_invalid_message: Literal["TerminateConnection", "TerminateStream"] | None = None


class HTTP3Settings(K8sModel, frozen=True, kw_only=True):
    pass


class PathSettings(K8sModel, frozen=True, kw_only=True):
    escaped_slashes_action: (
        Literal["KeepUnchanged", "RejectRequest", "UnescapeAndRedirect", "UnescapeAndForward"] | None
    ) = None
    disable_merge_slashes: bool | None = None


class XForwardedClientCert(K8sModel, frozen=True, kw_only=True):
    mode: Literal["Sanitize", "ForwardOnly", "AppendForward", "SanitizeSet", "AlwaysForwardOnly"] | None = None
    cert_details_to_add: tuple[Literal["Subject", "Cert", "Chain", "DNS", "URI"], ...] = ()


class HeaderSettings(K8sModel, frozen=True, kw_only=True):
    enable_envoy_headers: bool | None = None
    disable_rate_limit_headers: bool | None = None
    x_forwarded_client_cert: XForwardedClientCert | None = None
    with_underscores_action: Literal["Allow", "RejectRequest", "DropHeader"] | None = None
    preserve_x_request_id: bool | None = msgspec.field(default=None, name="preserveXRequestID")
    early_request_headers: HTTPHeaderFilter | None = None
    late_response_headers: HTTPHeaderFilter | None = None


class XForwardedForSettings(K8sModel, frozen=True, kw_only=True):
    num_trusted_hops: UInt32 | None = None
    trusted_cidrs: tuple[CIDR, ...] = msgspec.field(default=(), name="trustedCIDRs")

    def __post_init__(self) -> None:
        if self.num_trusted_hops is not None and self.trusted_cidrs:
            raise ValueError("use either numTrustedHops or trustedCIDRs, not both")


class CustomHeaderExtensionSettings(K8sModel, frozen=True, kw_only=True):
    name: str
    fail_closed: bool | None = None


class ClientIPDetectionSettings(K8sModel, frozen=True, kw_only=True):
    x_forwarded_for: XForwardedForSettings | None = None
    custom_header: CustomHeaderExtensionSettings | None = None

    def __post_init__(self) -> None:
        if self.x_forwarded_for is not None and self.custom_header is not None:
            raise ValueError("use either xForwardedFor or customHeader, not both")


class ClientProxyProtocol(K8sModel, frozen=True, kw_only=True):
    optional: bool | None = None


class HealthCheckSettings(K8sModel, frozen=True, kw_only=True):
    path: str


class ClientTrafficPolicySpec(PolicyTargetReferences, frozen=True, kw_only=True):
    tcp_keepalive: TCPKeepalive | None = None
    enable_proxy_protocol: bool | None = None  # deprecated in favour of proxy_protocol
    proxy_protocol: ClientProxyProtocol | None = None
    client_ip_detection: ClientIPDetectionSettings | None = msgspec.field(default=None, name="clientIPDetection")
    tls: ClientTLSSettings | None = None
    path: PathSettings | None = None
    headers: HeaderSettings | None = None
    timeout: ClientTimeout | None = None
    connection: ClientConnection | None = None
    http1: HTTP1Settings | None = None
    http2: HTTP2ClientSettings | None = None
    http3: HTTP3Settings | None = None
    health_check: HealthCheckSettings | None = None


class ClientTrafficPolicy(K8sObject, frozen=True, kw_only=True):
    spec: ClientTrafficPolicySpec
