"""EnvoyProxy: settings for the Envoys of a GatewayClass or Gateway (referenced by `parametersRef`).

egd reads the parts that shape xDS (telemetry: access logs, tracing, metrics; backend TLS; route order) and
the bootstrap-side metrics (sinks, stats matcher) that `egd bootstrap` renders.
Deployment settings (`provider`) are host-side and ignored; they stay in the stored document.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.envoygateway.cluster import BackendCluster
from projections.resources.envoygateway.tls import BackendTLSSettings
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.quantities import Port, UInt32

LogLevel = Literal["trace", "debug", "info", "warn", "error"]


class ProxyLogging(K8sModel, frozen=True, kw_only=True):
    level: dict[str, LogLevel] = {}


class FileSink(K8sModel, frozen=True, kw_only=True):
    path: str


class OpenTelemetrySink(BackendCluster, frozen=True, kw_only=True):
    """An OTLP/gRPC collector: `host`/`port`, or the first of `backendRefs`."""

    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 4317
    resources: dict[str, str] = {}


class ALSHTTPSettings(K8sModel, frozen=True, kw_only=True):
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    response_trailers: tuple[str, ...] = ()


class ALSSink(BackendCluster, frozen=True, kw_only=True):
    """An `envoy.service.accesslog.v3.AccessLogService` reached by `backendRefs`."""

    type: Literal["HTTP", "TCP"]
    log_name: str | None = None
    http: ALSHTTPSettings | None = None


class AccessLogSink(K8sModel, frozen=True, kw_only=True):
    type: Literal["File", "OpenTelemetry", "ALS"]
    file: FileSink | None = None
    open_telemetry: OpenTelemetrySink | None = None
    als: ALSSink | None = None


class AccessLogFormat(K8sModel, frozen=True, kw_only=True):
    type: Literal["Text", "JSON"] | None = None
    text: str | None = None
    json: dict[str, str] = {}


class AccessLogSetting(K8sModel, frozen=True, kw_only=True):
    format: AccessLogFormat | None = None
    sinks: tuple[AccessLogSink, ...] = ()
    matches: tuple[str, ...] = ()
    type: Literal["Route", "Listener"] | None = None


class ProxyAccessLog(K8sModel, frozen=True, kw_only=True):
    disable: bool = False
    settings: tuple[AccessLogSetting, ...] = ()


class TracingBackendRef(K8sModel, frozen=True, kw_only=True):
    name: str
    namespace: str | None = None
    port: Port | None = None
    group: str = ""
    kind: str = "Service"


class TracingProvider(K8sModel, frozen=True, kw_only=True):
    type: Literal["OpenTelemetry", "Zipkin", "Datadog"] = "OpenTelemetry"
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 4317
    backend_refs: tuple[TracingBackendRef, ...] = ()
    zipkin: dict[str, object] | None = None


class LiteralCustomTag(K8sModel, frozen=True, kw_only=True):
    value: str


class NamedCustomTag(K8sModel, frozen=True, kw_only=True):
    """An environment variable or a request header, and the value when it is absent."""

    name: str
    default_value: str | None = None


class CustomTag(K8sModel, frozen=True, kw_only=True):
    type: Literal["Literal", "Environment", "RequestHeader"] = "Literal"
    literal: LiteralCustomTag | None = None
    environment: NamedCustomTag | None = None
    request_header: NamedCustomTag | None = None


class ProxyTracing(K8sModel, frozen=True, kw_only=True):
    provider: TracingProvider
    sampling_rate: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    sampling_fraction: dict[str, int] | None = None
    custom_tags: dict[str, CustomTag] = {}
    tags: dict[str, str] = {}  # tag -> value (may hold command operators); wins over a custom tag of that name


class OpenTelemetryMetricSink(BackendCluster, frozen=True, kw_only=True):
    """An OTLP/gRPC metrics collector: `host`/`port` (deprecated in Envoy Gateway), or the first of `backendRefs`."""

    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 4317
    report_counters_as_deltas: bool = False
    report_histograms_as_deltas: bool = False


class MetricSink(K8sModel, frozen=True, kw_only=True):
    type: Literal["OpenTelemetry"] = "OpenTelemetry"
    open_telemetry: OpenTelemetryMetricSink | None = None


class StatsMatch(K8sModel, frozen=True, kw_only=True):
    """Envoy Gateway's StringMatch: which stat names Envoy creates."""

    type: Literal["Exact", "Prefix", "Suffix", "RegularExpression"] = "Exact"
    value: Annotated[str, msgspec.Meta(min_length=1)]


class PrometheusProvider(K8sModel, frozen=True, kw_only=True):
    disable: bool = False
    compression: dict[str, object] | None = None


class ProxyMetrics(K8sModel, frozen=True, kw_only=True):
    """Stats: sinks and the stats matcher live in Envoy's bootstrap (`egd bootstrap`); the `enable*Stats`
    switches shape xDS."""

    prometheus: PrometheusProvider | None = None
    sinks: tuple[MetricSink, ...] = ()
    matches: tuple[StatsMatch, ...] = ()
    enable_virtual_host_stats: bool | None = None
    enable_per_endpoint_stats: bool | None = None
    enable_request_response_sizes_stats: bool | None = None
    cluster_stat_name: str | None = None


class ProxyTelemetry(K8sModel, frozen=True, kw_only=True):
    """Access logs, tracing and metrics."""

    access_log: ProxyAccessLog | None = None
    tracing: ProxyTracing | None = None
    metrics: ProxyMetrics | None = None


class EnvoyProxySpec(K8sModel, frozen=True, kw_only=True):
    provider: dict[str, object] | None = None
    logging: ProxyLogging | None = None
    telemetry: ProxyTelemetry | None = None
    bootstrap: dict[str, object] | None = None
    concurrency: UInt32 | None = None
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
