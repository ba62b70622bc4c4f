"""`egd bootstrap` renders the Gateway's EnvoyProxy metrics from the daemon's state (its admin API, or the log
folded when only NATS is known): a real Envoy started from that bootstrap still takes its configuration from
egd, creates only the stats its matches include (admin `/stats`), and sends them as OTLP metrics to a grpcio
MetricsService in the test."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from egd.natsserver import pick_free_port
from projections import ir
from projections.xds.bootstrap import XdsAddress, build_bootstrap
from tests.egd.daemon import Daemon, egd
from tests.egd.serving import apply, eventually, grpc_service
from tests.egd.xds.envoy_process import envoy_binary, run_envoy

pytestmark = pytest.mark.slow

EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


class MetricsReceiver:
    """An OTLP/gRPC MetricsService (opentelemetry-proto ships its messages, not its gRPC stubs): the metric
    names of every export."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    async def export(self, request: Any, _: grpc.aio.ServicerContext) -> Any:
        for resource in request.resource_metrics:
            # the installed opentelemetry-proto predates the rename to `scope_metrics` (same field number)
            for scope in resource.instrumentation_library_metrics:
                self.names.update(metric.name for metric in scope.metrics)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[MetricsReceiver, int]]:
    found = MetricsReceiver()
    handler = grpc.unary_unary_rpc_method_handler(
        found.export,
        request_deserializer=metrics_service_pb2.ExportMetricsServiceRequest.FromString,
        response_serializer=metrics_service_pb2.ExportMetricsServiceResponse.SerializeToString,
    )
    service, method = EXPORT.rsplit("/", 1)
    generic = grpc.method_handlers_generic_handler(service.strip("/"), {method: handler})
    async with grpc_service(lambda server: server.add_generic_rpc_handlers((generic,))) as port:
        yield found, port


def _documents(listener_port: int, sink_port: int) -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: eg}}
spec: {{controllerName: gateway.envoyproxy.io/gatewayclass-controller}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {{name: metrics, namespace: default}}
spec:
  telemetry:
    metrics:
      sinks:
      - type: OpenTelemetry
        openTelemetry:
          backendRefs: [{{group: gateway.envoyproxy.io, kind: Backend, name: otel}}]
          reportCountersAsDeltas: true
      matches:
      - {{type: Prefix, value: cluster_manager.}}
      - {{type: Exact, value: server.live}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {{name: otel, namespace: default}}
spec:
  endpoints: [{{ip: {{address: 127.0.0.1, port: {sink_port}}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: default}}
spec:
  gatewayClassName: eg
  infrastructure:
    parametersRef: {{group: gateway.envoyproxy.io, kind: EnvoyProxy, name: metrics}}
  addresses: [{{type: IPAddress, value: 127.0.0.1}}]
  listeners: [{{name: http, protocol: HTTP, port: {listener_port}}}]
"""


def _included(name: str) -> bool:
    return name.startswith("cluster_manager.") or name == "server.live"


async def test_bootstrap_brings_the_gateways_stats_sink_and_matcher_to_envoy(
    daemon: Daemon, receiver: tuple[MetricsReceiver, int], tmp_path: Path
) -> None:
    metrics, sink_port = receiver
    await apply(daemon, _documents(pick_free_port(), sink_port))
    admin_port = pick_free_port()
    flags = ["--xds-address", f"127.0.0.1:{daemon.xds_port}", "--admin-port", str(admin_port)]

    from_admin = await asyncio.to_thread(
        egd, "bootstrap", "--gateway", "default/edge", *flags, "--data-dir", str(daemon.data_dir), check=True
    )
    bootstrap = yaml.safe_load(from_admin.stdout)
    (sink,) = bootstrap["stats_sinks"]
    assert sink["typed_config"]["report_counters_as_deltas"] is True
    assert sink["typed_config"]["grpc_service"] == {"envoy_grpc": {"cluster_name": "otel_metric_sink_0"}}
    assert bootstrap["stats_config"]["stats_matcher"]["inclusion_list"]["patterns"] == [
        {"prefix": "cluster_manager."},
        {"exact": "server.live"},
    ]
    # the same bootstrap from the log alone: NATS given, no daemon recorded in the data dir
    from_log = await asyncio.to_thread(
        egd,
        "bootstrap",
        "--gateway",
        "default/edge",
        *flags,
        "--nats-url",
        daemon.nats_url,
        "--data-dir",
        str(tmp_path / "empty"),
        check=True,
    )
    assert from_log.stdout == from_admin.stdout
    # a Gateway the daemon does not know (with a warning), or --offline: the bootstrap without metrics
    ghost = await asyncio.to_thread(
        egd, "bootstrap", "--gateway", "default/ghost", *flags, "--data-dir", str(daemon.data_dir), check=True
    )
    assert "stats_sinks" not in yaml.safe_load(ghost.stdout)
    assert "Gateway default/ghost not found" in ghost.stderr
    offline = await asyncio.to_thread(
        egd, "bootstrap", "--gateway", "default/edge", "--offline", *flags, "--data-dir", str(daemon.data_dir)
    )
    assert offline.returncode == 0, offline.stderr
    assert "stats_sinks" not in yaml.safe_load(offline.stdout)

    async with run_envoy(
        tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="edge-0", bootstrap=bootstrap
    ) as envoy:

        async def configured() -> bool:
            return bool(await envoy.config_dump("dynamic_listeners"))

        await eventually(configured, what="the Gateway's listener from egd")
        text: str = await envoy.admin("/stats")
        names = {line.split(": ", 1)[0] for line in text.splitlines()}
        assert "server.live" in names
        assert "cluster_manager.active_clusters" in names
        assert not {name for name in names if not _included(name)}, "the stats matcher lets only its matches in"

        async def exported() -> bool:
            return "cluster_manager.active_clusters" in metrics.names

        await eventually(exported, within=30, what="OTLP metrics from Envoy's stats sink")
        assert all(_included(name) for name in metrics.names), metrics.names


async def test_envoy_validates_every_kind_of_match_and_sink(tmp_path: Path) -> None:
    """Each stats match type and a sink reached by DNS name (with its gRPC authority): Envoy's validate mode
    accepts the bootstrap."""
    metrics = ir.Metrics(
        sinks=(
            ir.MetricSink(
                host="otel-collector.monitoring.svc.cluster.local", port=4317, report_histograms_as_deltas=True
            ),
            ir.MetricSink(host="10.0.0.9", port=4317, report_counters_as_deltas=True),
        ),
        matches=(
            ir.StatsMatch(type="Exact", value="server.live"),
            ir.StatsMatch(type="Prefix", value="cluster."),
            ir.StatsMatch(type="Suffix", value=".upstream_rq_total"),
            ir.StatsMatch(type="RegularExpression", value=r"^http\..*\.downstream_rq_[0-9]xx$"),
        ),
    )
    bootstrap = build_bootstrap(
        gateway="default/edge", xds_addresses=[XdsAddress(host="127.0.0.1", port=18000)], metrics=metrics
    )
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    assert clusters["otel_metric_sink_0"]["type"] == "STRICT_DNS"
    assert clusters["otel_metric_sink_1"]["type"] == "STATIC"
    first = bootstrap["stats_sinks"][0]["typed_config"]
    assert first["grpc_service"]["envoy_grpc"]["authority"] == "otel-collector.monitoring.svc.cluster.local"
    config = tmp_path / "bootstrap.yaml"
    config.write_text(yaml.safe_dump(bootstrap))
    validated = await asyncio.create_subprocess_exec(
        str(envoy_binary()), "--mode", "validate", "-c", str(config), stdout=PIPE, stderr=STDOUT
    )
    output, _ = await validated.communicate()
    assert validated.returncode == 0, output.decode()[-3000:]
