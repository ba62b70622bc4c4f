"""IR telemetry -> the access logs of connection managers and TCP proxies, HCM tracing, and the cluster to the
tracing collector (Envoy Gateway's `internal/xds/translator/accesslog.go` and `tracing.go`)."""

from __future__ import annotations

from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, grpc_service_pb2, substitution_format_string_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2, struct_pb2

from projections import ir
from projections.xds.translate.clusters import CONNECT_TIMEOUT

_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
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
    cluster = cluster_pb2.Cluster(
        name=tracing.cluster,
        type=cluster_pb2.Cluster.STRICT_DNS,
        dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED,
        connect_timeout=CONNECT_TIMEOUT,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=tracing.cluster,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=address_pb2.Address(
                                    socket_address=address_pb2.SocketAddress(
                                        address=tracing.host, port_value=tracing.port
                                    )
                                )
                            )
                        )
                    ]
                )
            ],
        ),
    )
    if tracing.provider == "OpenTelemetry":
        options = http_protocol_options_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[_HTTP_PROTOCOL_OPTIONS].CopyFrom(_packed(options))
    return cluster
