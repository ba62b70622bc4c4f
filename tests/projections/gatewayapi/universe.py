"""A small universe of related objects (every variant a real document) for property-based tests: a few
names per kind, a few variants per name, so that random event sequences hit every dependency edge."""

from __future__ import annotations

import base64
from typing import Any

from projections.gatewayapi.inputs import Resource
from projections.resources.decode import decode_resource

GW = "gateway.networking.k8s.io/v1"
CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
EG = "gateway.envoyproxy.io"
NAMESPACES = ("default", "other")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def gateway_class(name: str, variant: int) -> dict[str, Any]:
    controller = CONTROLLER if variant < 2 else "example.com/other"
    spec: dict[str, Any] = {"controllerName": controller}
    if variant == 1:
        spec["parametersRef"] = {"group": EG, "kind": "EnvoyProxy", "name": "proxy", "namespace": "default"}
    return {"apiVersion": GW, "kind": "GatewayClass", "metadata": {"name": name}, "spec": spec}


def envoy_proxy(name: str, variant: int) -> dict[str, Any]:
    """0: a custom text access log; 1: logs off, tracing; 2: invalid (a File sink without its path)."""
    sink: dict[str, Any] = {"type": "File", "file": {"path": "/dev/stdout"}} if variant != 2 else {"type": "File"}
    telemetry: dict[str, Any] = {
        "accessLog": {"settings": [{"format": {"type": "Text", "text": name}, "sinks": [sink]}]}
    }
    if variant == 1:
        telemetry = {
            "accessLog": {"disable": True},
            "tracing": {"provider": {"type": "OpenTelemetry", "host": "otel", "port": 4317}},
        }
    return {
        "apiVersion": f"{EG}/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"telemetry": telemetry},
    }


def gateway(name: str, variant: int) -> dict[str, Any]:
    listeners: list[dict[str, Any]] = [
        {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}
    ]
    if variant in (1, 3):
        listeners.append(
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": "*.example.com",
                "tls": {"certificateRefs": [{"name": "cert", "namespace": "other"}]},
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }
        )
    if variant == 2:
        listeners.append({"name": "http-2", "protocol": "HTTP", "port": 80, "hostname": "a.example.com"})
        listeners.append(
            {"name": "tcp", "protocol": "TCP", "port": 9000, "allowedRoutes": {"namespaces": {"from": "All"}}}
        )
    if variant == 3:
        listeners.append({"name": "dup", "protocol": "HTTP", "port": 80})
    return {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default", "generation": variant + 1},
        "spec": {
            "gatewayClassName": "eg" if variant != 4 else "other",
            "listeners": listeners,
            **(
                {"infrastructure": {"parametersRef": {"group": EG, "kind": "EnvoyProxy", "name": "own"}}}
                if variant == 1
                else {}
            ),
        },
    }


def http_route(name: str, namespace: str, variant: int) -> dict[str, Any]:
    parents = [{"name": "gw-a", "namespace": "default"}]
    if variant % 2:
        parents.append({"name": "gw-b", "namespace": "default", "sectionName": "https"})
    if variant == 2:  # attached to both Gateways alike: translated once for Gateways set up alike
        parents.append({"name": "gw-b", "namespace": "default"})
    backends = [{"name": "svc-1", "port": 80, "weight": 2}, {"name": "svc-2", "namespace": "other", "port": 80}]
    if variant >= 2:
        backends = [
            {"name": "be-1", "group": "gateway.envoyproxy.io", "kind": "Backend"},
            {"name": "svc-2", "port": 81},
        ]
    rules: list[dict[str, Any]] = [
        {"matches": [{"path": {"type": "PathPrefix", "value": f"/{name}"}}], "backendRefs": backends},
    ]
    if variant < 3:  # a named rule (policies may target it by sectionName); variant 2 renames it
        rules[0]["name"] = "main" if variant < 2 else "other"
    if variant == 3:
        rules.append(
            {
                "filters": [
                    {
                        "type": "ExtensionRef",
                        "extensionRef": {"group": "gateway.envoyproxy.io", "kind": "HTTPRouteFilter", "name": "f"},
                    }
                ]
            }
        )
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": variant + 1,
            "labels": {"tier": "free"} if variant in (0, 3) else {},
        },
        "spec": {"parentRefs": parents, "hostnames": ["a.example.com"] if variant == 1 else [], "rules": rules},
    }


def tcp_route(name: str, variant: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1alpha2",
        "kind": "TCPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "gw-a" if variant else "gw-b", "sectionName": "tcp"}],
            "rules": [{"backendRefs": [{"name": "svc-1", "port": 80 + variant}]}],
        },
    }


def service(name: str, namespace: str, variant: int) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80}]
    if variant:
        ports.append({"name": "alt", "port": 81})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": ports},
    }


def endpoint_slice(name: str, namespace: str, variant: int) -> dict[str, Any]:
    service_name = "svc-1" if variant < 3 else "svc-2"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}, {"name": "alt", "port": 8081}],
        "endpoints": [{"addresses": [f"10.0.{variant}.{i}"], "conditions": {"ready": i != variant}} for i in range(3)],
    }


def grant(name: str, variant: int) -> dict[str, Any]:
    to = [{"group": "", "kind": "Service"}] if variant == 0 else [{"group": "", "kind": "Secret", "name": "cert"}]
    source = {
        "group": "gateway.networking.k8s.io",
        "kind": "HTTPRoute" if variant == 0 else "Gateway",
        "namespace": "default",
    }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": name, "namespace": "other"},
        "spec": {"from": [source], "to": to},
    }


def secret(variant: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cert", "namespace": "other"},
        "type": "kubernetes.io/tls" if variant == 0 else "Opaque",
        "data": {"tls.crt": b64(PEM), "tls.key": b64(KEY)},
    }


def backend(variant: int) -> dict[str, Any]:
    endpoint = {"ip": {"address": f"192.168.0.{variant}", "port": 8080}} if variant else {"unix": {"path": "/run/s"}}
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "Backend",
        "metadata": {"name": "be-1", "namespace": "default"},
        "spec": {"endpoints": [endpoint]},
    }


def route_filter(variant: int) -> dict[str, Any]:
    """Variants: two direct responses, a credential injected from the Secret `token`."""
    spec: dict[str, Any] = {"directResponse": {"statusCode": 200 + variant, "body": {"type": "Inline", "inline": "hi"}}}
    if variant == 2:
        spec = {"credentialInjection": {"header": "X-Token", "credential": {"valueRef": {"name": "token"}}}}
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "HTTPRouteFilter",
        "metadata": {"name": "f", "namespace": "default"},
        "spec": spec,
    }


def token(variant: int) -> dict[str, Any]:
    """Variants: two credentials, and a Secret without the `credential` key."""
    data = {"credential": b64(f"Bearer {variant}")} if variant < 2 else {"other": b64("x")}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "default"}, "data": data}


def error_page(variant: int) -> dict[str, Any]:
    """Variants: two bodies, and one without the `response.body` key."""
    data = {"response.body": f"error page {variant}"} if variant < 2 else {"other": "x"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "error-page", "namespace": "default"},
        "data": data,
    }


def traffic_policy(name: str, variant: int) -> dict[str, Any]:
    """Variants: a route by name, a Gateway, one listener (with a response override whose body is a ConfigMap's),
    routes by label, a Gateway without a rate limit, a route's rule by name (retries), a route merged onto the
    Gateway's policy (mergeType)."""
    group = "gateway.networking.k8s.io"
    targeting: list[dict[str, Any]] = [
        {"targetRefs": [{"group": group, "kind": "HTTPRoute", "name": "r1"}]},
        {"targetRefs": [{"group": group, "kind": "Gateway", "name": "gw-a"}]},
        {"targetRefs": [{"group": group, "kind": "Gateway", "name": "gw-a", "sectionName": "http"}]},
        {"targetSelectors": [{"kind": "HTTPRoute", "matchLabels": {"tier": "free"}}]},
        {"targetRefs": [{"group": group, "kind": "Gateway", "name": "gw-b"}]},
        {"targetRefs": [{"group": group, "kind": "HTTPRoute", "name": "r1", "sectionName": "main"}]},
        {"targetRefs": [{"group": group, "kind": "HTTPRoute", "name": "r2"}], "mergeType": "JSONMerge"},
    ]
    spec: dict[str, Any] = dict(targeting[variant])
    if variant == 2:
        body = {"type": "ValueRef", "valueRef": {"group": "", "kind": "ConfigMap", "name": "error-page"}}
        spec["responseOverride"] = [{"match": {"statusCodes": [{"value": 404}]}, "response": {"body": body}}]
    rule: dict[str, Any] = {"limit": {"requests": 3 + variant, "unit": "Minute"}}
    if variant == 3:
        spec["bandwidthLimit"] = {"response": {"limit": {"value": "1Mi", "unit": "Second"}}}
        spec["admissionControl"] = {"minSuccessRate": 90}
    if variant >= 5:
        spec["retry"] = {"numRetries": variant}
    elif variant != 4:
        if name.endswith("local"):
            spec["rateLimit"] = {"type": "Local", "local": {"rules": [rule]}}
        else:
            rule["clientSelectors"] = [{"headers": [{"name": "x-user", "type": "Distinct"}]}]
            spec["rateLimit"] = {"type": "Global", "global": {"rules": [rule]}}
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": name, "namespace": "default", "generation": variant + 1},
        "spec": spec,
    }


def client_policy(name: str, variant: int) -> dict[str, Any]:
    """Variants: a Gateway, one listener, another Gateway, a listener that does not exist."""
    group = "gateway.networking.k8s.io"
    refs = [
        {"group": group, "kind": "Gateway", "name": "gw-a"},
        {"group": group, "kind": "Gateway", "name": "gw-a", "sectionName": "http"},
        {"group": group, "kind": "Gateway", "name": "gw-b"},
        {"group": group, "kind": "Gateway", "name": "gw-a", "sectionName": "nope"},
    ]
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "ClientTrafficPolicy",
        "metadata": {"name": name, "namespace": "default", "generation": variant + 1},
        "spec": {"targetRefs": [refs[variant]], "timeout": {"http": {"idleTimeout": f"{variant + 1}s"}}},
    }


def backend_tls_policy(name: str, variant: int) -> dict[str, Any]:
    """Variants: svc-1 whole, svc-1 port `http`, svc-1 with a CA ConfigMap that is missing, svc-2."""
    ref: dict[str, Any] = {"group": "", "kind": "Service", "name": "svc-2" if variant == 3 else "svc-1"}
    if variant == 1:
        ref["sectionName"] = "http"
    validation: dict[str, Any] = {"hostname": "svc.example.com", "wellKnownCACertificates": "System"}
    if variant == 2:
        validation = {
            "hostname": "svc.example.com",
            "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
        }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1alpha3",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": "default", "generation": variant + 1},
        "spec": {"targetRefs": [ref], "validation": validation},
    }


# (slot name, number of variants, builder)
SLOTS: list[tuple[str, int, Any]] = [
    ("gc/eg", 3, lambda v: gateway_class("eg", v)),
    ("gw/a", 5, lambda v: gateway("gw-a", v)),
    ("gw/b", 5, lambda v: gateway("gw-b", v)),
    ("route/default/r1", 4, lambda v: http_route("r1", "default", v)),
    ("route/default/r2", 4, lambda v: http_route("r2", "default", v)),
    ("route/other/r3", 4, lambda v: http_route("r3", "other", v)),
    ("tcp/t1", 2, lambda v: tcp_route("t1", v)),
    ("svc/default/svc-1", 2, lambda v: service("svc-1", "default", v)),
    ("svc/default/svc-2", 2, lambda v: service("svc-2", "default", v)),
    ("svc/other/svc-2", 2, lambda v: service("svc-2", "other", v)),
    ("eps/default/s1", 4, lambda v: endpoint_slice("s1", "default", v)),
    ("eps/default/s2", 4, lambda v: endpoint_slice("s2", "default", v)),
    ("eps/other/s3", 4, lambda v: endpoint_slice("s3", "other", v)),
    ("grant/g1", 2, lambda v: grant("g1", v)),
    ("grant/g2", 2, lambda v: grant("g2", v)),
    ("secret/cert", 2, secret),
    ("backend/be-1", 3, backend),
    ("filter/f", 3, route_filter),
    ("secret/token", 3, token),
    ("btp/p-global", 7, lambda v: traffic_policy("p-global", v)),
    ("btp/p-local", 7, lambda v: traffic_policy("p-local", v)),
    ("btp/q-global", 7, lambda v: traffic_policy("q-global", v)),
    ("ctp/c1", 4, lambda v: client_policy("c1", v)),
    ("ctp/c2", 4, lambda v: client_policy("c2", v)),
    ("btlsp/t1", 4, lambda v: backend_tls_policy("t1", v)),
    ("btlsp/t2", 4, lambda v: backend_tls_policy("t2", v)),
    ("ep/proxy", 3, lambda v: envoy_proxy("proxy", v)),
    ("ep/own", 3, lambda v: envoy_proxy("own", v)),
    ("cm/error-page", 3, error_page),
]


def resource(slot: int, variant: int, revision: int = 1) -> Resource:
    _, count, build = SLOTS[slot]
    document = build(variant % count)
    decoded = decode_resource(document, f"slot {slot}")
    return Resource(key=decoded.key, model=decoded.model, generation=document["metadata"].get("generation", 1))
