"""IR telemetry -> the access logs of connection managers, TCP proxies and listeners, HCM tracing, and the
cluster to the tracing collector (Envoy Gateway's `internal/xds/translator/accesslog.go` and `tracing.go`).

A log's CEL `matches` become `envoy.access_loggers.extension_filters.cel` filters, all of which must hold. Logs
without a level are written by connection managers and TCP proxies, and by the listener too for the requests
no route took (Envoy Gateway's `NR` response flag filter); `Route` logs by the former only, `Listener` logs by
the listener only."""

from __future__ import annotations

from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2, substitution_format_string_pb2
from envoy.config.trace.v3 import datadog_pb2, http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.type.tracing.v3 import custom_tag_pb2
from google.protobuf import struct_pb2
from opentelemetry.proto.common.v1 import common_pb2 as otlp

from projections import ir
from projections.xds.translate.clusters import dns_cluster, endpoints_cluster
from projections.xds.translate.packing import packed

ZIPKIN_COLLECTOR_ENDPOINT = "/api/v2/spans"
OTEL_LOG_NAME = "otel_envoy_accesslog"  # Envoy Gateway's
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"


def access_logs(telemetry: ir.Telemetry | None, level: ir.LogLevel = "Route") -> list[Any]:
    """The access logs of a connection manager or TCP proxy (`Route`) or of a listener (`Listener`), in Envoy
    Gateway's order: files, ALS, then OpenTelemetry."""
    if telemetry is None:
        return []
    logs: list[Any] = []
    for log in telemetry.access_logs:
        if log.level in (None, level):
            logs.append(_with_filter(_file_access_log(log), log.matches, level == "Listener" and log.level is None))
    for als in telemetry.als_access_logs:
        if als.level in (None, level):
            logs.append(_with_filter(_als_access_log(als), als.matches, level == "Listener" and als.level is None))
    for otel in telemetry.otel_access_logs:
        if otel.level in (None, level):
            logs.append(_with_filter(_otel_access_log(otel), otel.matches, level == "Listener" and otel.level is None))
    return logs


def _with_filter(log: Any, matches: tuple[str, ...], no_route_only: bool) -> Any:
    """`log` filtered by its CEL expressions and, at a listener for a log of no level, by Envoy's `NR` flag."""
    filters = [
        accesslog_pb2.AccessLogFilter(
            extension_filter=accesslog_pb2.ExtensionFilter(
                name=CEL_FILTER, typed_config=packed(cel_pb2.ExpressionFilter(expression=expression))
            )
        )
        for expression in matches
    ]
    if no_route_only:
        flags = accesslog_pb2.ResponseFlagFilter(flags=["NR"])
        filters.append(accesslog_pb2.AccessLogFilter(response_flag_filter=flags))
    if len(filters) == 1:
        log.filter.CopyFrom(filters[0])
    elif filters:
        log.filter.and_filter.filters.extend(filters)
    return log


def _grpc_common(collector: ir.Collector, log_name: str, authority: str = "") -> Any:
    return als_pb2.CommonGrpcAccessLogConfig(
        log_name=log_name,
        grpc_service=grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=collector.cluster, authority=authority)
        ),
        transport_api_version=config_source_pb2.V3,
    )


def _als_access_log(als: ir.ALSAccessLog) -> Any:
    common = _grpc_common(als.collector, als.log_name)
    if als.type == "TCP":
        tcp = als_pb2.TcpGrpcAccessLogConfig(common_config=common)
        return accesslog_pb2.AccessLog(name="envoy.access_loggers.tcp_grpc", typed_config=packed(tcp))
    http = als_pb2.HttpGrpcAccessLogConfig(
        common_config=common,
        additional_request_headers_to_log=als.request_headers,
        additional_response_headers_to_log=als.response_headers,
        additional_response_trailers_to_log=als.response_trailers,
    )
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.http_grpc", typed_config=packed(http))


def _key_values(pairs: tuple[tuple[str, str], ...]) -> Any:
    return otlp.KeyValueList(values=[otlp.KeyValue(key=k, value=otlp.AnyValue(string_value=v)) for k, v in pairs])


def _otel_access_log(otel: ir.OpenTelemetryAccessLog) -> Any:
    config = logs_service_pb2.OpenTelemetryAccessLogConfig(
        common_config=_grpc_common(otel.collector, OTEL_LOG_NAME, otel.authority),
        resource_attributes=_key_values(otel.resources),
    )
    if otel.text:
        config.body.string_value = otel.text
    if otel.attributes:
        config.attributes.CopyFrom(_key_values(otel.attributes))
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.open_telemetry", typed_config=packed(config))


def _file_access_log(log: ir.FileAccessLog) -> Any:
    if log.json:
        fmt = substitution_format_string_pb2.SubstitutionFormatString(
            json_format=struct_pb2.Struct(
                fields={k: struct_pb2.Value(string_value=v) for k, v in log.json},
            )
        )
    else:
        fmt = substitution_format_string_pb2.SubstitutionFormatString(
            text_format_source=base_pb2.DataSource(inline_string=log.text or "")
        )
    config = file_pb2.FileAccessLog(path=log.path, log_format=fmt)
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=packed(config))


def apply_http_telemetry(manager: Any, telemetry: ir.Telemetry | None) -> None:
    """Access logs and tracing on one HTTP connection manager."""
    if telemetry is None:
        return
    manager.access_log.extend(access_logs(telemetry))
    tracing = telemetry.tracing
    if tracing is None:
        return
    config = hcm.HttpConnectionManager.Tracing()
    config.client_sampling.value = 100.0
    config.random_sampling.value = tracing.sampling_rate
    config.overall_sampling.value = 100.0
    config.provider.CopyFrom(_tracing_provider(tracing))
    config.custom_tags.extend(_custom_tag(tag) for tag in tracing.custom_tags)
    config.spawn_upstream_span.value = True  # Envoy Gateway's: a span for the upstream request too
    manager.tracing.CopyFrom(config)


def _custom_tag(tag: ir.CustomTag) -> Any:
    if tag.type == "Literal":
        return custom_tag_pb2.CustomTag(tag=tag.tag, literal=custom_tag_pb2.CustomTag.Literal(value=tag.value))
    if tag.type == "Environment":
        environment = custom_tag_pb2.CustomTag.Environment(name=tag.name, default_value=tag.default_value)
        return custom_tag_pb2.CustomTag(tag=tag.tag, environment=environment)
    if tag.type == "RequestHeader":
        header = custom_tag_pb2.CustomTag.Header(name=tag.name, default_value=tag.default_value)
        return custom_tag_pb2.CustomTag(tag=tag.tag, request_header=header)
    return custom_tag_pb2.CustomTag(tag=tag.tag, value=tag.value)


def _tracing_provider(tracing: ir.Tracing) -> Any:
    if tracing.provider == "OpenTelemetry":
        service = grpc_service_pb2.GrpcService(
            envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=tracing.cluster, authority=tracing.host)
        )
        config = opentelemetry_pb2.OpenTelemetryConfig(grpc_service=service, service_name=tracing.service_name)
        return http_tracer_pb2.Tracing.Http(name="envoy.tracers.opentelemetry", typed_config=packed(config))
    if tracing.provider == "Datadog":
        datadog = datadog_pb2.DatadogConfig(collector_cluster=tracing.cluster, service_name=tracing.service_name)
        return http_tracer_pb2.Tracing.Http(name="envoy.tracers.datadog", typed_config=packed(datadog))
    zipkin = zipkin_pb2.ZipkinConfig(
        collector_cluster=tracing.cluster,
        collector_endpoint=ZIPKIN_COLLECTOR_ENDPOINT,
        collector_endpoint_version=zipkin_pb2.ZipkinConfig.HTTP_JSON,
        collector_hostname=tracing.host,
        trace_id_128bit=True,
    )
    return http_tracer_pb2.Tracing.Http(name="envoy.tracers.zipkin", typed_config=packed(zipkin))


def build_collector_cluster(collector: ir.Collector) -> Any:
    """An access log sink's gRPC service, resolved by DNS, over HTTP/2."""
    return dns_cluster(collector.cluster, collector.host, collector.port, http2=True)


def build_tracing_cluster(tracing: ir.Tracing) -> Any:
    """The collector's cluster (HTTP/2 for OpenTelemetry's gRPC): `host`:`port` resolved by DNS, or the
    endpoints of its backendRef, static when they are all IPs."""
    http2 = tracing.provider == "OpenTelemetry"
    if tracing.endpoints is None:
        return dns_cluster(tracing.cluster, tracing.host, tracing.port, http2=http2)
    return endpoints_cluster(tracing.cluster, tracing.endpoints, http2=http2)
