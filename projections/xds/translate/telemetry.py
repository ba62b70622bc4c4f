"""IR telemetry -> the access logs of connection managers and TCP proxies, HCM tracing, and the cluster to the
tracing collector (Envoy Gateway's `internal/xds/translator/accesslog.go` and `tracing.go`)."""

from __future__ import annotations

from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2, grpc_service_pb2, substitution_format_string_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from google.protobuf import any_pb2, struct_pb2

from projections import ir
from projections.xds.translate.clusters import dns_cluster

ZIPKIN_COLLECTOR_ENDPOINT = "/api/v2/spans"


def _packed(message: Any) -> Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)  # the JSON format is a map
    return packed


def access_logs(telemetry: ir.Telemetry | None) -> list[Any]:
    """One file access log per IR sink, in order."""
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


def build_tracing_cluster(tracing: ir.Tracing) -> Any:
    """The collector's cluster, resolved by DNS; HTTP/2 for OpenTelemetry's gRPC."""
    return dns_cluster(tracing.cluster, tracing.host, tracing.port, http2=tracing.provider == "OpenTelemetry")
