"""IR telemetry -> the access logs of connection managers and TCP proxies, HCM tracing, and the cluster to the
tracing collector (Envoy Gateway's `internal/xds/translator/accesslog.go` and `tracing.go`)."""

from __future__ import annotations

from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2, substitution_format_string_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from google.protobuf import any_pb2, struct_pb2
from opentelemetry.proto.common.v1 import common_pb2 as otlp

from projections import ir
from projections.xds.translate.clusters import dns_cluster

ZIPKIN_COLLECTOR_ENDPOINT = "/api/v2/spans"
OTEL_LOG_NAME = "otel_envoy_accesslog"  # Envoy Gateway's


def _packed(message: Any) -> Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)  # the JSON format is a map
    return packed


def access_logs(telemetry: ir.Telemetry | None) -> list[Any]:
    """The access logs of a connection manager or TCP proxy, in Envoy Gateway's order: files, ALS, then
    OpenTelemetry."""
    logs = _file_access_logs(telemetry)
    for als in telemetry.als_access_logs if telemetry is not None else ():
        logs.append(_als_access_log(als))
    for otel in telemetry.otel_access_logs if telemetry is not None else ():
        logs.append(_otel_access_log(otel))
    return logs


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
        return accesslog_pb2.AccessLog(name="envoy.access_loggers.tcp_grpc", typed_config=_packed(tcp))
    http = als_pb2.HttpGrpcAccessLogConfig(
        common_config=common,
        additional_request_headers_to_log=als.request_headers,
        additional_response_headers_to_log=als.response_headers,
        additional_response_trailers_to_log=als.response_trailers,
    )
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.http_grpc", typed_config=_packed(http))


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
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.open_telemetry", typed_config=_packed(config))


def _file_access_logs(telemetry: ir.Telemetry | None) -> list[Any]:
    logs = []
    for log in telemetry.access_logs if telemetry is not None else ():
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
        logs.append(accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=_packed(config)))
    return logs


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
    if tracing.provider == "OpenTelemetry":
        provider = http_tracer_pb2.Tracing.Http(
            name="envoy.tracers.opentelemetry",
            typed_config=_packed(
                opentelemetry_pb2.OpenTelemetryConfig(
                    grpc_service=grpc_service_pb2.GrpcService(
                        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                            cluster_name=tracing.cluster, authority=tracing.host
                        )
                    ),
                    service_name=tracing.service_name,
                )
            ),
        )
    else:
        provider = http_tracer_pb2.Tracing.Http(
            name="envoy.tracers.zipkin",
            typed_config=_packed(
                zipkin_pb2.ZipkinConfig(
                    collector_cluster=tracing.cluster,
                    collector_endpoint=ZIPKIN_COLLECTOR_ENDPOINT,
                    collector_endpoint_version=zipkin_pb2.ZipkinConfig.HTTP_JSON,
                    collector_hostname=tracing.host,
                    trace_id_128bit=True,
                )
            ),
        )
    config.provider.CopyFrom(provider)
    manager.tracing.CopyFrom(config)


def build_collector_cluster(collector: ir.Collector) -> Any:
    """An access log sink's gRPC service, resolved by DNS, over HTTP/2."""
    return dns_cluster(collector.cluster, collector.host, collector.port, http2=True)


def build_tracing_cluster(tracing: ir.Tracing) -> Any:
    """The collector's cluster, resolved by DNS; HTTP/2 for OpenTelemetry's gRPC."""
    return dns_cluster(tracing.cluster, tracing.host, tracing.port, http2=tracing.provider == "OpenTelemetry")
