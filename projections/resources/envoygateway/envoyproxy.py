"""EnvoyProxy: settings for the Envoys of a GatewayClass or Gateway (referenced by `parametersRef`).

egd reads the parts that shape xDS (telemetry: access logs, tracing, metrics; backend TLS; route order).
Deployment settings (`provider`) are host-side and ignored; they stay in the stored document.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.envoygateway.tls import BackendTLSSettings
from projections.resources.meta import K8sModel, K8sObject

LogLevel = Literal["trace", "debug", "info", "warn", "error"]


class ProxyLogging(K8sModel, frozen=True, kw_only=True):
    level: dict[str, LogLevel] = {}


class ProxyTelemetry(K8sModel, frozen=True, kw_only=True):
    """Access logs, tracing and metrics sinks; typed further when the translation of each lands."""

    access_log: dict[str, object] | None = None
    tracing: dict[str, object] | None = None
    metrics: dict[str, object] | None = None


class EnvoyProxySpec(K8sModel, frozen=True, kw_only=True):
    provider: dict[str, object] | None = None
    logging: ProxyLogging | None = None
    telemetry: ProxyTelemetry | None = None
    bootstrap: dict[str, object] | None = None
    concurrency: Annotated[int, msgspec.Meta(ge=0)] | None = None
    routing_type: Literal["Service", "Endpoint"] | None = None
    ip_family: Literal["IPv4", "IPv6", "DualStack"] | None = msgspec.field(default=None, name="ipFamily")
    merge_gateways: bool | None = None
    preserve_route_order: bool | None = None
    backend_tls: BackendTLSSettings | None = msgspec.field(default=None, name="backendTLS")
    filter_order: tuple[dict[str, object], ...] = ()
    shutdown: dict[str, object] | None = None
    extra_args: tuple[str, ...] = ()


class EnvoyProxy(K8sObject, frozen=True, kw_only=True):
    spec: EnvoyProxySpec = EnvoyProxySpec()
