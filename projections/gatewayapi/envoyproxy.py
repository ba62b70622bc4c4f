"""EnvoyProxy parameters: which EnvoyProxy applies to a Gateway, whether its reference is valid, and the
Gateway's telemetry (access logs, tracing, metrics) from it.

A GatewayClass names an EnvoyProxy with `spec.parametersRef` (namespace required), a Gateway with
`spec.infrastructure.parametersRef` (in its own namespace); the Gateway's wins as a whole, as in Envoy
Gateway without `mergeType`. A reference to a missing or invalid EnvoyProxy is `InvalidParameters`.
Host-side settings (provider, concurrency, bootstrap, shutdown) are not egd's to apply.
"""

from __future__ import annotations

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.addresses import is_ip_address
from projections.gatewayapi.celsyntax import cel_syntax_problem
from projections.gatewayapi.endpoints import backend_endpoints, service_endpoints
from projections.gatewayapi.inputs import Reader
from projections.gatewayapi.tlssecrets import tls_certificate
from projections.resources.core import Secret, Service
from projections.resources.envoygateway import GROUP as EG_GROUP
from projections.resources.envoygateway import Backend
from projections.resources.envoygateway.envoyproxy import (
    AccessLogFormat,
    AccessLogSetting,
    AccessLogSink,
    EnvoyProxy,
    MetricSink,
    ProxyAccessLog,
    ProxyMetrics,
    ProxyTracing,
    TracingBackendRef,
)
from projections.resources.gatewayapi import Gateway, GatewayClass
from projections.resources.references import BackendRef
from projections.resources.regex import re2_problem

KIND = "EnvoyProxy"

# Envoy Gateway's default access log format (internal/xds/translator/accesslog.go, EnvoyTextLogFormat).
DEFAULT_TEXT_FORMAT = (
    '{"start_time":"%START_TIME%","method":"%REQ(:METHOD)%",'
    '"x-envoy-origin-path":"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%","protocol":"%PROTOCOL%",'
    '"response_code":"%RESPONSE_CODE%","response_flags":"%RESPONSE_FLAGS%",'
    '"response_code_details":"%RESPONSE_CODE_DETAILS%",'
    '"connection_termination_details":"%CONNECTION_TERMINATION_DETAILS%",'
    '"upstream_transport_failure_reason":"%UPSTREAM_TRANSPORT_FAILURE_REASON%",'
    '"bytes_received":"%BYTES_RECEIVED%","bytes_sent":"%BYTES_SENT%",'
    '"duration":"%DURATION%","x-envoy-upstream-service-time":"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",'
    '"x-forwarded-for":"%REQ(X-FORWARDED-FOR)%","user-agent":"%REQ(USER-AGENT)%",'
    '"x-request-id":"%REQ(X-REQUEST-ID)%",":authority":"%REQ(:AUTHORITY)%",'
    '"upstream_host":"%UPSTREAM_HOST%","upstream_cluster":"%UPSTREAM_CLUSTER%",'
    '"upstream_local_address":"%UPSTREAM_LOCAL_ADDRESS%",'
    '"downstream_local_address":"%DOWNSTREAM_LOCAL_ADDRESS%",'
    '"downstream_remote_address":"%DOWNSTREAM_REMOTE_ADDRESS%",'
    '"requested_server_name":"%REQUESTED_SERVER_NAME%","route_name":"%ROUTE_NAME%"}\n'
)
DEFAULT_ACCESS_LOG = ir.FileAccessLog(path="/dev/stdout", text=DEFAULT_TEXT_FORMAT)


def _key(namespace: str, name: str) -> ResourceKey:
    return ResourceKey(group=EG_GROUP, kind=KIND, namespace=namespace, name=name)


def _lookup(reader: Reader, group: str, kind: str, namespace: str, name: str) -> tuple[EnvoyProxy | None, str | None]:
    if (group, kind) != (EG_GROUP, KIND):
        return None, f"Unsupported parametersRef {group}/{kind}: only {EG_GROUP}/{KIND} is supported"
    found = reader.model(_key(namespace, name), EnvoyProxy)
    if found is None:
        return None, f"EnvoyProxy {namespace}/{name} not found"
    problem = envoy_proxy_problem(reader, found[1], namespace)
    return (None, f"EnvoyProxy {namespace}/{name} is invalid: {problem}") if problem else (found[1], None)


def class_parameters(reader: Reader, gateway_class: GatewayClass) -> tuple[EnvoyProxy | None, str | None]:
    """The GatewayClass's EnvoyProxy (None without a reference) and what is wrong with its reference."""
    ref = gateway_class.spec.parameters_ref
    if ref is None:
        return None, None
    if (ref.group, ref.kind) == (EG_GROUP, KIND) and not ref.namespace:
        return None, "parametersRef.namespace must be set for an EnvoyProxy"
    return _lookup(reader, ref.group, ref.kind, ref.namespace or "", ref.name)


def gateway_parameters(reader: Reader, namespace: str, gateway: Gateway) -> tuple[EnvoyProxy | None, str | None]:
    """The Gateway's own EnvoyProxy (`spec.infrastructure.parametersRef`, in its namespace) and its problem."""
    infrastructure = gateway.spec.infrastructure
    ref = infrastructure.parameters_ref if infrastructure is not None else None
    if ref is None:
        return None, None
    return _lookup(reader, ref.group, ref.kind, namespace, ref.name)


def envoy_proxy_problem(reader: Reader, proxy: EnvoyProxy, namespace: str) -> str | None:
    """What makes an EnvoyProxy (in `namespace`) unusable (Envoy Gateway refuses it the same way), or None."""
    client_certificate = _client_certificate(reader, proxy, namespace)
    if isinstance(client_certificate, str):
        return f"spec.backendTLS.clientCertificateRef: {client_certificate}"
    telemetry = proxy.spec.telemetry
    if telemetry is None:
        return None
    access_log = telemetry.access_log
    for i, setting in enumerate(access_log.settings if access_log is not None else ()):
        path = f"spec.telemetry.accessLog.settings[{i}]"
        fmt = setting.format
        if fmt is not None and fmt.type == "JSON" and not fmt.json:
            return f"{path}.format.json must be set for a JSON format"
        if fmt is not None and fmt.type == "Text" and fmt.text is not None and not fmt.text:
            return f"{path}.format.text must not be empty"
        for j, expression in enumerate(setting.matches):
            problem = cel_syntax_problem(expression)
            if problem is not None:
                return f"{path}.matches[{j}] is not a valid CEL expression: {problem}"
        for j, sink in enumerate(setting.sinks):
            if sink.type == "File" and (sink.file is None or not sink.file.path):
                return f"{path}.sinks[{j}].file.path must be set for a File sink"
            if sink.type in ("OpenTelemetry", "ALS"):
                found = _sink_collector(reader, sink, namespace)
                if isinstance(found, str):
                    return f"{path}.sinks[{j}].{found}"
    tracing = telemetry.tracing
    if tracing is not None:
        problem = _tracing_problem(reader, tracing, namespace)
        if problem is not None:
            return problem
    return _metrics_problem(reader, telemetry.metrics, namespace) if telemetry.metrics is not None else None


def _tracing_problem(reader: Reader, tracing: ProxyTracing, namespace: str) -> str | None:
    path = "spec.telemetry.tracing"
    provider = tracing.provider
    if provider.host is None and not provider.backend_refs:
        return f"{path}.provider needs a host or backendRefs"
    if provider.host is None:
        found = _tracing_endpoints(reader, provider.backend_refs[0], namespace)
        if isinstance(found, str):
            return f"{path}.provider.backendRefs[0]: {found}"
    for name, tag in sorted(tracing.custom_tags.items()):
        fields = {
            "Literal": ("literal", tag.literal),
            "Environment": ("environment", tag.environment),
            "RequestHeader": ("requestHeader", tag.request_header),
        }
        field, value = fields[tag.type]
        if value is None:
            return f"{path}.customTags.{name}.{field} must be set for a {tag.type} tag"
    return None


def _client_certificate(reader: Reader, proxy: EnvoyProxy, namespace: str) -> ir.Certificate | str | None:
    """The certificate of `spec.backendTLS.clientCertificateRef` (a TLS Secret in the EnvoyProxy's namespace,
    as Envoy Gateway requires), None without one, or what is wrong with it."""
    settings = proxy.spec.backend_tls
    ref = settings.client_certificate_ref if settings is not None else None
    if ref is None:
        return None
    if (ref.group, ref.kind) != ("", "Secret"):
        return f"{ref.group or 'core'}/{ref.kind} is not supported (Secret)"
    if (ref.namespace or namespace) != namespace:
        return f"the Secret must be in the EnvoyProxy's namespace {namespace}, not {ref.namespace}"
    secret = reader.model(ResourceKey(group="", kind="Secret", namespace=namespace, name=ref.name), Secret)
    if secret is None:
        return f"Secret {namespace}/{ref.name} not found"
    return tls_certificate(secret[1], f"{namespace}/{ref.name}")


def gateway_backend_tls(reader: Reader, proxy: EnvoyProxy | None, proxy_namespace: str) -> ir.BackendTLSDefaults | None:
    """The EnvoyProxy's `backendTLS` for every destination of the Gateway reached over TLS (a BackendTLSPolicy's),
    as Envoy Gateway applies it: the TLS parameters and the client certificate."""
    settings = proxy.spec.backend_tls if proxy is not None else None
    if proxy is None or settings is None:
        return None
    certificate = _client_certificate(reader, proxy, proxy_namespace)
    return ir.BackendTLSDefaults(
        client_certificate=certificate if isinstance(certificate, ir.Certificate) else None,
        min_version=settings.min_version,
        max_version=settings.max_version,
        ciphers=settings.ciphers,
        ecdh_curves=settings.ecdh_curves,
        signature_algorithms=settings.signature_algorithms,
        alpn_protocols=settings.alpn_protocols,
    )


def _metrics_problem(reader: Reader, metrics: ProxyMetrics, namespace: str) -> str | None:
    for i, sink in enumerate(metrics.sinks):
        found = _metric_sink_address(reader, sink, namespace)
        if isinstance(found, str):
            return f"spec.telemetry.metrics.sinks[{i}].{found}"
    for i, match in enumerate(metrics.matches):
        if match.type == "RegularExpression" and (problem := re2_problem(match.value)) is not None:
            return f"spec.telemetry.metrics.matches[{i}].value: {problem}"
    return None


def _metric_sink_address(reader: Reader, sink: MetricSink, namespace: str) -> tuple[str, int] | str:
    """Where an OpenTelemetry metrics sink sends to: its first backendRef, else `host`/`port` (Envoy Gateway's
    order), or what is wrong with it (a field path and why)."""
    otel = sink.open_telemetry
    if otel is None:
        return "openTelemetry must be set for an OpenTelemetry sink"
    refs = otel.all_backend_refs
    if refs:
        found = _backend_address(reader, refs[0], namespace)
        return f"openTelemetry.backendRefs[0]: {found}" if isinstance(found, str) else found
    if otel.host is None:
        return "openTelemetry needs a host or backendRefs"
    return otel.host, otel.port


def _metrics(reader: Reader, metrics: ProxyMetrics | None, proxy_namespace: str) -> ir.Metrics | None:
    """Envoy Gateway's: sinks resolved (each host:port once), the matches in order, the stats switches."""
    if metrics is None:
        return None
    sinks: dict[tuple[str, int], ir.MetricSink] = {}
    for sink in metrics.sinks:
        otel = sink.open_telemetry
        found = _metric_sink_address(reader, sink, proxy_namespace)
        if otel is None or isinstance(found, str) or found in sinks:
            continue  # an invalid sink refuses the EnvoyProxy (`envoy_proxy_problem`); a duplicate is dropped
        sinks[found] = ir.MetricSink(
            host=found[0],
            port=found[1],
            report_counters_as_deltas=otel.report_counters_as_deltas,
            report_histograms_as_deltas=otel.report_histograms_as_deltas,
        )
    return ir.Metrics(
        virtual_host_stats=bool(metrics.enable_virtual_host_stats),
        per_endpoint_stats=bool(metrics.enable_per_endpoint_stats),
        request_response_sizes_stats=bool(metrics.enable_request_response_sizes_stats),
        sinks=tuple(sinks.values()),
        matches=tuple(ir.StatsMatch(type=m.type, value=m.value) for m in metrics.matches),
    )


def gateway_telemetry(
    reader: Reader, proxy: EnvoyProxy | None, proxy_namespace: str, gateway: ResourceKey
) -> ir.Telemetry | None:
    """The telemetry of a Gateway's Envoys; None without an EnvoyProxy (egd then configures no access log,
    where Envoy Gateway logs to stdout by default)."""
    if proxy is None:
        return None
    telemetry = proxy.spec.telemetry
    access_log = telemetry.access_log if telemetry is not None else None
    tracing = _tracing(reader, telemetry.tracing, proxy_namespace, gateway) if telemetry is not None else None
    als: list[ir.ALSAccessLog] = []
    otel: list[ir.OpenTelemetryAccessLog] = []
    for setting in access_log.settings if access_log is not None and not access_log.disable else ():
        for sink in setting.sinks:
            collector = _sink_collector(reader, sink, proxy_namespace)
            if isinstance(collector, str):
                continue  # the EnvoyProxy is refused (`envoy_proxy_problem`)
            if sink.als is not None:
                als.append(_als(sink, setting, collector, gateway))
            elif sink.open_telemetry is not None:
                otel.append(_open_telemetry(sink, setting, collector))
    return ir.Telemetry(
        access_logs=_access_logs(access_log),
        als_access_logs=tuple(als),
        otel_access_logs=tuple(otel),
        tracing=tracing,
        metrics=_metrics(reader, telemetry.metrics, proxy_namespace) if telemetry is not None else None,
    )


def _sink_collector(reader: Reader, sink: AccessLogSink, namespace: str) -> ir.Collector | str:
    """The gRPC service of an OpenTelemetry or ALS sink, or what is wrong with it (a field path and why)."""
    if sink.type == "ALS":
        if sink.als is None:
            return "als must be set for an ALS sink"
        refs, host, port, what = sink.als.all_backend_refs, None, 0, "als"
    else:
        if sink.open_telemetry is None:
            return "openTelemetry must be set for an OpenTelemetry sink"
        otel = sink.open_telemetry
        refs, host, port, what = otel.all_backend_refs, otel.host, otel.port, "openTelemetry"
    if host is None and not refs:
        return f"{what} needs backendRefs" if sink.type == "ALS" else f"{what} needs a host or backendRefs"
    if host is None:
        found = _backend_address(reader, refs[0], namespace)
        if isinstance(found, str):
            return f"{what}.backendRefs[0]: {found}"
        host, port = found
    return ir.Collector(cluster=f"accesslog/{host}/{port}", host=host, port=port)


def _backend_address(reader: Reader, ref: BackendRef, namespace: str) -> tuple[str, int] | str:
    """A Service by its cluster DNS name and the ref's port, or an Envoy Gateway Backend's first ip or fqdn
    endpoint (read through `reader`: a Backend arriving later wakes the Gateway up)."""
    ref_namespace = ref.namespace or namespace
    if (ref.group, ref.kind) == ("", "Service"):
        if ref.port is None:
            return "port must be set for a Service"
        return f"{ref.name}.{ref_namespace}.svc.cluster.local", ref.port
    if (ref.group, ref.kind) != (EG_GROUP, "Backend"):
        return f"{ref.group or 'core'}/{ref.kind} is not supported (Service or Backend)"
    key = ResourceKey(group=EG_GROUP, kind="Backend", namespace=ref_namespace, name=ref.name)
    found = reader.model(key, Backend)
    if found is None:
        return f"Backend {ref_namespace}/{ref.name} not found"
    for endpoint in found[1].spec.endpoints:
        if endpoint.ip is not None:
            return endpoint.ip.address, endpoint.ip.port
        if endpoint.fqdn is not None:
            return endpoint.fqdn.hostname, endpoint.fqdn.port
    return f"Backend {ref_namespace}/{ref.name} has no ip or fqdn endpoint"


def _als(
    sink: AccessLogSink, setting: AccessLogSetting, collector: ir.Collector, gateway: ResourceKey
) -> ir.ALSAccessLog:
    als = sink.als
    assert als is not None
    http = als.http if als.type == "HTTP" else None
    return ir.ALSAccessLog(
        collector=collector,
        type=als.type,
        log_name=als.log_name or f"accesslog/{gateway.namespace}/{gateway.name}",  # Envoy Gateway's default
        request_headers=http.request_headers if http is not None else (),
        response_headers=http.response_headers if http is not None else (),
        response_trailers=http.response_trailers if http is not None else (),
        matches=setting.matches,
        level=setting.type,
    )


def _open_telemetry(
    sink: AccessLogSink, setting: AccessLogSetting, collector: ir.Collector
) -> ir.OpenTelemetryAccessLog:
    """Envoy Gateway's: the text format (its default without one) as the body, a JSON format as attributes."""
    otel = sink.open_telemetry
    assert otel is not None
    fmt: AccessLogFormat | None = setting.format
    text = fmt.text if fmt is not None and fmt.type != "JSON" and fmt.text else DEFAULT_TEXT_FORMAT
    attributes = tuple(sorted(fmt.json.items())) if fmt is not None and fmt.type == "JSON" else ()
    return ir.OpenTelemetryAccessLog(
        collector=collector,
        authority=collector.host,
        text=text,
        attributes=attributes,
        resources=tuple(sorted(otel.resources.items())),
        matches=setting.matches,
        level=setting.type,
    )


def _access_logs(access_log: ProxyAccessLog | None) -> tuple[ir.FileAccessLog, ...]:
    """File sinks in order (OpenTelemetry and ALS sinks are in `gateway_telemetry`)."""
    if access_log is None or (not access_log.disable and not access_log.settings):
        return (DEFAULT_ACCESS_LOG,)
    if access_log.disable:
        return ()
    logs: list[ir.FileAccessLog] = []
    for setting in access_log.settings:
        fmt = setting.format
        for sink in setting.sinks:
            if sink.type != "File" or sink.file is None:
                continue
            if fmt is not None and fmt.type == "JSON":
                log = ir.FileAccessLog(path=sink.file.path, json=tuple(sorted(fmt.json.items())))
            else:
                text = fmt.text if fmt is not None and fmt.text else DEFAULT_TEXT_FORMAT
                log = ir.FileAccessLog(path=sink.file.path, text=text)
            logs.append(msgspec.structs.replace(log, matches=setting.matches, level=setting.type))
    return tuple(logs)


def _tracing_endpoints(
    reader: Reader, ref: TracingBackendRef, namespace: str
) -> tuple[tuple[ir.CollectorEndpoint, ...], str] | str:
    """The endpoints of a tracing backendRef through egd's own destinations (a Service's EndpointSlices, a
    Backend's ip and fqdn endpoints) and the authority Envoy Gateway gives them; or what is wrong with it."""
    ref_namespace = ref.namespace or namespace
    key = ResourceKey(group=ref.group, kind=ref.kind, namespace=ref_namespace, name=ref.name)
    found: tuple[ir.Endpoint, ...]
    if (ref.group, ref.kind) == ("", "Service"):
        service = reader.model(key, Service)
        if service is None:
            return f"Service {ref_namespace}/{ref.name} not found"
        if ref.port is None:
            return "port must be set for a Service"
        spec = service[1].spec
        port = next((p for p in spec.ports if p.port == ref.port), None)
        if port is None:
            return f"port {ref.port} not found on Service {ref_namespace}/{ref.name}"
        if spec.type == "ExternalName" and spec.external_name:
            found = (ir.Endpoint(address=spec.external_name, port=port.port, type="FQDN"),)
        else:
            found = service_endpoints(reader, key, port)
        authority = f"{ref.name}.{ref_namespace}.svc"
    elif (ref.group, ref.kind) == (EG_GROUP, "Backend"):
        backend = reader.model(key, Backend)
        if backend is None:
            return f"Backend {ref_namespace}/{ref.name} not found"
        found = backend_endpoints(backend[1])
        authority = f"{ref.name}.{ref_namespace}"
    else:
        return f"{ref.group or 'core'}/{ref.kind} is not supported (Service or Backend)"
    endpoints = tuple(
        ir.CollectorEndpoint(address=e.address, port=e.port, fqdn=e.type == "FQDN") for e in found if e.type != "Unix"
    )
    first = endpoints[0].address if endpoints else ""
    return endpoints, (first if first and not is_ip_address(first) else authority)


def _custom_tags(tracing: ProxyTracing) -> tuple[ir.CustomTag, ...]:
    """`customTags`, then `tags` (which win over a custom tag of the same name), sorted by tag."""
    tags: dict[str, ir.CustomTag] = {}
    for name, tag in tracing.custom_tags.items():
        if tag.type == "Literal" and tag.literal is not None:
            tags[name] = ir.CustomTag(tag=name, type="Literal", value=tag.literal.value)
        source = tag.environment if tag.type == "Environment" else tag.request_header
        if tag.type != "Literal" and source is not None:
            default = source.default_value or ""
            tags[name] = ir.CustomTag(tag=name, type=tag.type, name=source.name, default_value=default)
    for name, value in tracing.tags.items():
        tags[name] = ir.CustomTag(tag=name, type="Value", value=value)
    return tuple(tags[name] for name in sorted(tags))


def _tracing(
    reader: Reader, tracing: ProxyTracing | None, proxy_namespace: str, gateway: ResourceKey
) -> ir.Tracing | None:
    """OpenTelemetry (gRPC), Zipkin or Datadog; the collector by `host`/`port` (by DNS) or through the first
    backendRef's endpoints."""
    if tracing is None:
        return None
    provider = tracing.provider
    endpoints: tuple[ir.CollectorEndpoint, ...] | None = None
    if provider.host is None and provider.backend_refs:
        found = _tracing_endpoints(reader, provider.backend_refs[0], proxy_namespace)
        if isinstance(found, str):
            return None  # the EnvoyProxy is refused (`envoy_proxy_problem`)
        endpoints, host = found
        port = provider.backend_refs[0].port or 0
    else:
        host, port = provider.host or "", provider.port
    rate = 100.0
    if tracing.sampling_fraction is not None:
        numerator = tracing.sampling_fraction.get("numerator", 0)
        denominator = tracing.sampling_fraction.get("denominator", 100) or 100
        rate = min(100.0, max(0.0, 100.0 * numerator / denominator))
    elif tracing.sampling_rate is not None:
        rate = float(tracing.sampling_rate)
    return ir.Tracing(
        provider=provider.type,
        cluster=f"tracing/{gateway.namespace}/{gateway.name}",
        host=host,
        port=port,
        sampling_rate=rate,
        service_name=f"{gateway.namespace}/{gateway.name}",
        endpoints=endpoints,
        custom_tags=_custom_tags(tracing),
    )
