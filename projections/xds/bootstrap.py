"""The Envoy bootstrap that connects an Envoy to egd: delta ADS for everything, one Gateway per Envoy.

egd serves an Envoy the configuration of the Gateway named by its `node.cluster` (`<namespace>/<name>`).
Several xDS addresses become the endpoints of one static cluster: the ADS stream goes to one of them
and, when that connection fails, Envoy reconnects through the next (round robin).

The Gateway's EnvoyProxy metrics that Envoy reads only from its bootstrap go there as Envoy Gateway renders
them (`internal/xds/bootstrap/bootstrap.yaml.tpl`): each OpenTelemetry sink as a `stats_sinks` entry with a
static cluster `otel_metric_sink_<i>`, and `matches` as the `stats_config.stats_matcher` inclusion list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from projections import ir
from projections.addresses import is_ip_address

XDS_CLUSTER = "egd_xds"
DEFAULT_XDS_ADDRESS = "127.0.0.1:18000"
DEFAULT_ADMIN_PORT = 19901


class XdsAddress(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int


class XdsClientTls(msgspec.Struct, frozen=True, kw_only=True):
    """How Envoy speaks TLS to egd (its xDS server, or its rate-limit service): paths on the Envoy's machine."""

    ca_file: str
    """The CA that signed egd's certificate."""
    cert_file: str | None = None
    """Envoy's own certificate and key, for an egd that requires client certificates (mutual TLS)."""
    key_file: str | None = None
    sni: str | None = None
    """Sent as SNI and required among the names of egd's certificate."""


def _upstream_tls(tls: XdsClientTls) -> dict[str, Any]:
    validation: dict[str, Any] = {"trusted_ca": {"filename": tls.ca_file}}
    if tls.sni:
        validation["match_typed_subject_alt_names"] = [{"san_type": "DNS", "matcher": {"exact": tls.sni}}]
    common: dict[str, Any] = {"alpn_protocols": ["h2"], "validation_context": validation}
    if tls.cert_file and tls.key_file:
        common["tls_certificates"] = [
            {"certificate_chain": {"filename": tls.cert_file}, "private_key": {"filename": tls.key_file}}
        ]
    context: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": common,
    }
    if tls.sni:
        context["sni"] = tls.sni
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def parse_gateway(gateway: str) -> tuple[str, str]:
    """`<namespace>/<name>` -> (namespace, name); ValueError otherwise."""
    namespace, slash, name = gateway.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise ValueError(f"gateway must be <namespace>/<name>, got {gateway!r}")
    return namespace, name


def parse_address(address: str) -> XdsAddress:
    """`host:port` or `[v6]:port` -> XdsAddress; ValueError otherwise."""
    host, colon, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"xDS address must be host:port, got {address!r}")
    return XdsAddress(host=host, port=int(port))


def _ads_source() -> dict[str, Any]:
    return {"ads": {}, "resource_api_version": "V3"}


def _http2_options(keepalive: bool) -> dict[str, Any]:
    http2: dict[str, Any] = {"connection_keepalive": {"interval": "30s", "timeout": "5s"}} if keepalive else {}
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": http2},
        }
    }


def _endpoint(address: XdsAddress) -> dict[str, Any]:
    return {"endpoint": {"address": {"socket_address": {"address": address.host, "port_value": address.port}}}}


def metric_sink_cluster(index: int) -> str:
    return f"otel_metric_sink_{index}"


def _stats_pattern(match: ir.StatsMatch) -> dict[str, Any]:
    if match.type == "RegularExpression":
        return {"safe_regex": {"regex": match.value}}
    return {match.type.lower(): match.value}


def _stats_sink(index: int, sink: ir.MetricSink) -> dict[str, Any]:
    grpc: dict[str, Any] = {"cluster_name": metric_sink_cluster(index)}
    if not is_ip_address(sink.host):
        grpc["authority"] = sink.host
    config: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig",
        "grpc_service": {"envoy_grpc": grpc},
    }
    if sink.report_counters_as_deltas:
        config["report_counters_as_deltas"] = True
    if sink.report_histograms_as_deltas:
        config["report_histograms_as_deltas"] = True
    return {"name": "envoy.stat_sinks.open_telemetry", "typed_config": config}


def _sink_cluster(index: int, sink: ir.MetricSink) -> dict[str, Any]:
    name = metric_sink_cluster(index)
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if is_ip_address(sink.host) else "STRICT_DNS",
        "connect_timeout": "0.250s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": _http2_options(keepalive=False),
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [_endpoint(XdsAddress(host=sink.host, port=sink.port))]}],
        },
    }
    if not is_ip_address(sink.host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


def build_bootstrap(
    *,
    gateway: str,
    xds_addresses: Sequence[XdsAddress],
    admin_port: int = DEFAULT_ADMIN_PORT,
    node_id: str = "",
    tls: XdsClientTls | None = None,
    metrics: ir.Metrics | None = None,
) -> dict[str, Any]:
    """The bootstrap as a plain mapping (dump it as YAML or JSON). With `tls`, Envoy reaches egd over TLS;
    with `metrics` (the Gateway's, from its EnvoyProxy), Envoy sends stats to its sinks and creates only the
    stats its matches name."""
    namespace, name = parse_gateway(gateway)
    if not xds_addresses:
        raise ValueError("at least one xDS address is needed")
    all_ips = all(is_ip_address(a.host) for a in xds_addresses)
    xds_cluster: dict[str, Any] = {
        "name": XDS_CLUSTER,
        "type": "STATIC" if all_ips else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": _http2_options(keepalive=True),
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [_endpoint(a) for a in xds_addresses]}],
        },
    }
    if not all_ips:
        xds_cluster["dns_lookup_family"] = "V4_PREFERRED"
    if tls is not None:
        if (tls.cert_file is None) != (tls.key_file is None):
            raise ValueError("a client certificate and its key go together")
        xds_cluster["transport_socket"] = _upstream_tls(tls)
    bootstrap: dict[str, Any] = {
        "node": {"id": node_id or f"{namespace}-{name}", "cluster": f"{namespace}/{name}"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
            },
            "lds_config": _ads_source(),
            "cds_config": _ads_source(),
        },
        "static_resources": {"clusters": [xds_cluster]},
    }
    if metrics is not None and metrics.matches:
        patterns = [_stats_pattern(m) for m in metrics.matches]
        bootstrap["stats_config"] = {"stats_matcher": {"inclusion_list": {"patterns": patterns}}}
    if metrics is not None and metrics.sinks:
        bootstrap["stats_sinks"] = [_stats_sink(i, sink) for i, sink in enumerate(metrics.sinks)]
        bootstrap["static_resources"]["clusters"] += [_sink_cluster(i, sink) for i, sink in enumerate(metrics.sinks)]
    return bootstrap
