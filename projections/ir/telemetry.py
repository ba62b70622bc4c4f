"""Telemetry of a Gateway's Envoys, from its EnvoyProxy: access logs, tracing and metrics.

Access logs go to files, to an OpenTelemetry collector (OTLP/gRPC) or to an access log service (ALS, gRPC); a
gRPC sink reaches its `Collector` through a cluster of its own, resolved by DNS. Each log has CEL `matches`
(all must hold) and a level: `Route` (connection managers and TCP proxies), `Listener` (the Listener), or
neither (both; at the Listener only for requests no route took, Envoy Gateway's `NR` filter). Metrics are partly xDS
(virtual host, per-endpoint and request/response size stats) and partly bootstrap (stats sinks and the stats
matcher, which Envoy reads only at start: `egd bootstrap` renders them from here).
"""

from __future__ import annotations

from typing import Literal

from projections.ir.base import IRStruct

LogLevel = Literal["Route", "Listener"]


class FileAccessLog(IRStruct, frozen=True, kw_only=True):
    """One file access log: `text` (a format string) or `json` (field -> command operator), never both."""

    path: str
    text: str | None = None
    json: tuple[tuple[str, str], ...] = ()  # sorted by field
    matches: tuple[str, ...] = ()  # CEL expressions, all must hold
    level: LogLevel | None = None


class Collector(IRStruct, frozen=True, kw_only=True):
    """A gRPC service a sink sends to: the cluster `cluster` to `host`:`port` (an IP or a name, by DNS)."""

    cluster: str  # `accesslog/<host>/<port>`
    host: str
    port: int


class OpenTelemetryAccessLog(IRStruct, frozen=True, kw_only=True):
    """Log records to an OTLP collector: `text` as the body, `attributes` (name -> command operator)."""

    collector: Collector
    authority: str
    text: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # sorted by name
    resources: tuple[tuple[str, str], ...] = ()  # resource attributes, sorted by name
    matches: tuple[str, ...] = ()
    level: LogLevel | None = None


class ALSAccessLog(IRStruct, frozen=True, kw_only=True):
    """Log entries to an access log service: HTTP entries (with extra headers) or TCP ones."""

    collector: Collector
    type: Literal["HTTP", "TCP"]
    log_name: str
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    response_trailers: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()
    level: LogLevel | None = None


class CollectorEndpoint(IRStruct, frozen=True, kw_only=True):
    """One endpoint of a tracing collector resolved through egd's own backends (EndpointSlices, Backend)."""

    address: str
    port: int
    fqdn: bool = False  # a name Envoy resolves by DNS, else an IP


class CustomTag(IRStruct, frozen=True, kw_only=True):
    """A tag on every span: a `Literal` value, an `Environment` variable or a `RequestHeader` (`name`, with
    `default_value` when absent), or a `Value` that may hold command operators."""

    tag: str
    type: Literal["Literal", "Environment", "RequestHeader", "Value"]
    value: str = ""  # the literal or the formatted value
    name: str = ""  # the variable or header
    default_value: str = ""


class Tracing(IRStruct, frozen=True, kw_only=True):
    """Tracing to a collector reached through the cluster `cluster`: `host`:`port` resolved by DNS, or the
    `endpoints` of its backendRef (then `host` is the authority, as in Envoy Gateway)."""

    provider: Literal["OpenTelemetry", "Zipkin", "Datadog"]
    cluster: str
    host: str
    port: int
    sampling_rate: float  # percent
    service_name: str
    endpoints: tuple[CollectorEndpoint, ...] | None = None  # None: `host`:`port` by DNS
    custom_tags: tuple[CustomTag, ...] = ()  # sorted by tag


class StatsMatch(IRStruct, frozen=True, kw_only=True):
    """Stat names Envoy creates (the bootstrap's stats matcher inclusion list)."""

    type: Literal["Exact", "Prefix", "Suffix", "RegularExpression"]
    value: str


class MetricSink(IRStruct, frozen=True, kw_only=True):
    """Stats pushed to an OTLP/gRPC collector at `host`:`port` (an IP or a name, by DNS): a bootstrap stats sink."""

    host: str
    port: int
    report_counters_as_deltas: bool = False
    report_histograms_as_deltas: bool = False


class Metrics(IRStruct, frozen=True, kw_only=True):
    virtual_host_stats: bool = False  # a virtual cluster per virtual host (`vhost.<name>.vcluster.<name>.*`)
    per_endpoint_stats: bool = False  # route clusters' `track_cluster_stats.per_endpoint_stats`
    request_response_sizes_stats: bool = False  # route clusters' `track_cluster_stats.request_response_sizes`
    sinks: tuple[MetricSink, ...] = ()  # bootstrap-side, each host:port once, in order
    matches: tuple[StatsMatch, ...] = ()  # bootstrap-side; none: Envoy creates every stat

    @property
    def tracks_cluster_stats(self) -> bool:
        return self.per_endpoint_stats or self.request_response_sizes_stats


class Telemetry(IRStruct, frozen=True, kw_only=True):
    access_logs: tuple[FileAccessLog, ...] = ()
    als_access_logs: tuple[ALSAccessLog, ...] = ()
    otel_access_logs: tuple[OpenTelemetryAccessLog, ...] = ()
    tracing: Tracing | None = None
    metrics: Metrics | None = None

    @property
    def collectors(self) -> tuple[Collector, ...]:
        """The access log sinks' gRPC services, each once, by cluster name."""
        collectors = [a.collector for a in self.als_access_logs] + [o.collector for o in self.otel_access_logs]
        found = {c.cluster: c for c in collectors}
        return tuple(found[name] for name in sorted(found))
