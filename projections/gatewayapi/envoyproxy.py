"""EnvoyProxy parameters: which EnvoyProxy applies to a Gateway, whether its reference is valid, and the
Gateway's telemetry (access logs, tracing) from it.

A GatewayClass names an EnvoyProxy with `spec.parametersRef` (namespace required), a Gateway with
`spec.infrastructure.parametersRef` (in its own namespace); the Gateway's wins as a whole, as in Envoy
Gateway without `mergeType`. A reference to a missing or invalid EnvoyProxy is `InvalidParameters`.
Host-side settings (provider, concurrency, bootstrap, shutdown) are not egd's to apply.
"""

from __future__ import annotations

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.inputs import Reader
from projections.resources.envoygateway import GROUP as EG_GROUP
from projections.resources.envoygateway.envoyproxy import EnvoyProxy, ProxyAccessLog, ProxyTracing
from projections.resources.gatewayapi import Gateway, GatewayClass

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
    problem = envoy_proxy_problem(found[1])
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


def envoy_proxy_problem(proxy: EnvoyProxy) -> str | None:
    """What makes an EnvoyProxy unusable (Envoy Gateway refuses it the same way), or None."""
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
        for j, sink in enumerate(setting.sinks):
            if sink.type == "File" and (sink.file is None or not sink.file.path):
                return f"{path}.sinks[{j}].file.path must be set for a File sink"
    tracing = telemetry.tracing
    if tracing is not None and tracing.provider.type in ("OpenTelemetry", "Zipkin"):
        provider = tracing.provider
        if provider.host is None and not provider.backend_refs:
            return "spec.telemetry.tracing.provider needs a host or backendRefs"
        if provider.backend_refs and (provider.backend_refs[0].group, provider.backend_refs[0].kind) != ("", "Service"):
            return "spec.telemetry.tracing.provider.backendRefs: only Services are supported"
        if provider.backend_refs and provider.backend_refs[0].port is None:
            return "spec.telemetry.tracing.provider.backendRefs[0].port must be set"
    return None


def gateway_telemetry(proxy: EnvoyProxy | None, proxy_namespace: str, gateway: ResourceKey) -> ir.Telemetry | None:
    """The telemetry of a Gateway's Envoys; None without an EnvoyProxy (egd then configures no access log,
    where Envoy Gateway logs to stdout by default)."""
    if proxy is None:
        return None
    telemetry = proxy.spec.telemetry
    access_logs = _access_logs(telemetry.access_log if telemetry is not None else None)
    tracing = _tracing(telemetry.tracing, proxy_namespace, gateway) if telemetry is not None else None
    return ir.Telemetry(access_logs=access_logs, tracing=tracing)


def _access_logs(access_log: ProxyAccessLog | None) -> tuple[ir.FileAccessLog, ...]:
    """File sinks in order (OpenTelemetry and ALS sinks are not supported: left out)."""
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
                logs.append(ir.FileAccessLog(path=sink.file.path, json=tuple(sorted(fmt.json.items()))))
            else:
                text = fmt.text if fmt is not None and fmt.text else DEFAULT_TEXT_FORMAT
                logs.append(ir.FileAccessLog(path=sink.file.path, text=text))
    return tuple(logs)


def _tracing(tracing: ProxyTracing | None, proxy_namespace: str, gateway: ResourceKey) -> ir.Tracing | None:
    """OpenTelemetry (gRPC) or Zipkin; the collector by `host`/`port` or the first Service backendRef (by its
    cluster DNS name). Datadog is not supported: left out."""
    if tracing is None or tracing.provider.type not in ("OpenTelemetry", "Zipkin"):
        return None
    provider = tracing.provider
    if provider.backend_refs:
        ref = provider.backend_refs[0]
        host = f"{ref.name}.{ref.namespace or proxy_namespace}.svc.cluster.local"
        port = ref.port or 0
    else:
        host, port = provider.host or "", provider.port
    rate = 100.0
    if tracing.sampling_fraction is not None:
        numerator = tracing.sampling_fraction.get("numerator", 0)
        denominator = tracing.sampling_fraction.get("denominator", 100) or 100
        rate = 100.0 * numerator / denominator
    elif tracing.sampling_rate is not None:
        rate = float(tracing.sampling_rate)
    return ir.Tracing(
        provider="OpenTelemetry" if provider.type == "OpenTelemetry" else "Zipkin",
        cluster=f"tracing/{gateway.namespace}/{gateway.name}",
        host=host,
        port=port,
        sampling_rate=rate,
        service_name=f"{gateway.namespace}/{gateway.name}",
    )
