"""Gateway API and Envoy Gateway documents (as dicts) for the real-Envoy tests of one Gateway, `default/eg`
on 127.0.0.1, and their translation to that Gateway's IR as egd does it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from egd.bus import LatestValues
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.translator import translate
from projections.ir import GatewayIR
from projections.xds.resources import ResourceSet
from projections.xds.translate import XdsTranslator, XdsUpdate
from tests.egd.xds.conftest import GROUP

GW_API = "gateway.networking.k8s.io/v1"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
EG = "gateway.envoyproxy.io/v1alpha1"
NAMESPACE, GATEWAY = GROUP.split("/")


def http_listener(port: int, name: str = "http") -> dict[str, Any]:
    return {"name": name, "protocol": "HTTP", "port": port}


def https_listener(port: int, hostname: str, certificate: str = "cert") -> dict[str, Any]:
    """A listener `https` for `hostname`, terminating TLS with the certificate of the Secret `certificate`."""
    return {
        "name": "https",
        "protocol": "HTTPS",
        "port": port,
        "hostname": hostname,
        "tls": {"certificateRefs": [{"name": certificate}]},
    }


def gateway(listeners: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The GatewayClass `eg` and the Gateway with `listeners` on 127.0.0.1."""
    return [
        {
            "apiVersion": GW_API,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": GW_API,
            "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": "eg",
                "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                "listeners": list(listeners),
            },
        },
    ]


def gateway_with_proxy(port: int, proxy_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The Gateway with one HTTP listener on `port`, whose GatewayClass names an EnvoyProxy with `proxy_spec`."""
    gateway_class, the_gateway = gateway([http_listener(port)])
    gateway_class["spec"]["parametersRef"] = {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "proxy",
        "namespace": NAMESPACE,
    }
    proxy = {
        "apiVersion": EG,
        "kind": "EnvoyProxy",
        "metadata": {"name": "proxy", "namespace": NAMESPACE},
        "spec": proxy_spec,
    }
    return [gateway_class, the_gateway, proxy]


def service(name: str, port: int) -> list[dict[str, Any]]:
    """A Service (port 80) and its EndpointSlice: `port` on 127.0.0.1."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "p", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-1", "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "p", "port": port}],
            "endpoints": [{"addresses": ["127.0.0.1"]}],
        },
    ]


def eg_backend(name: str, *ports: int) -> dict[str, Any]:
    """An Envoy Gateway Backend: `ports` on 127.0.0.1."""
    return {
        "apiVersion": EG,
        "kind": "Backend",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"endpoints": [{"ip": {"address": "127.0.0.1", "port": p}} for p in ports]},
    }


def backend_route(name: str, path: str, to: str, kind: str = "Backend", port: int | None = None) -> dict[str, Any]:
    """An HTTPRoute with one PathPrefix rule to the Backend (or, with `kind`, the Service) `to`."""
    ref: dict[str, Any] = {"group": "gateway.envoyproxy.io" if kind == "Backend" else "", "kind": kind, "name": to}
    if port is not None:
        ref["port"] = port
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": [ref]}],
        },
    }


def service_route(name: str, path: str, **rule: Any) -> dict[str, Any]:
    """An HTTPRoute with one PathPrefix rule to the Service `app` port 80; `rule` adds to it or replaces."""
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": path}}], **rule}
    rule.setdefault("backendRefs", [{"name": "app", "port": 80}])
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"parentRefs": [{"name": GATEWAY}], "rules": [rule]},
    }


def route_policy(kind: str, name: str, route: str, **spec: Any) -> dict[str, Any]:
    """An Envoy Gateway policy of `kind` on the HTTPRoute `route`."""
    return {
        "apiVersion": EG,
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"targetRefs": [{"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "name": route}], **spec},
    }


def backend_traffic_policy(name: str, route: str, **spec: Any) -> dict[str, Any]:
    return route_policy("BackendTrafficPolicy", name, route, **spec)


def security_policy(name: str, route: str, **spec: Any) -> dict[str, Any]:
    return route_policy("SecurityPolicy", name, route, **spec)


def extension_policy(name: str, route: str, **spec: Any) -> dict[str, Any]:
    return route_policy("EnvoyExtensionPolicy", name, route, **spec)


def client_traffic_policy(name: str, section: str | None = None, **spec: Any) -> dict[str, Any]:
    """A ClientTrafficPolicy on the Gateway (or its listener `section`)."""
    target: dict[str, Any] = {"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": GATEWAY}
    if section is not None:
        target["sectionName"] = section
    return {
        "apiVersion": EG,
        "kind": "ClientTrafficPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"targetRefs": [target], **spec},
    }


def tls_secret(name: str, certificate: str, key: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": certificate, "tls.key": key},
    }


def htpasswd_secret(name: str, user: str, password: str) -> dict[str, Any]:
    """A Secret whose `.htpasswd` has `user` with `password` (SHA), as SecurityPolicy `basicAuth` reads it."""
    sha = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": {".htpasswd": f"{user}:{{SHA}}{sha}\n"},
    }


def ca_config_map(name: str, pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"ca.crt": pem},
    }


def gateway_ir(documents: Sequence[dict[str, Any]], options: TranslateOptions | None = None) -> GatewayIR:
    """The IR of the Gateway, translated from `documents` from scratch."""
    resources = resources_from_documents([(d, f"document {i}") for i, d in enumerate(documents)])
    return translate(resources, options).gateways[GROUP]


class GatewayFeed:
    """Documents to IR to xDS, with one XdsTranslator kept across updates as in egd, published on `bus` (an
    in-process xDS server's) for the Gateway."""

    def __init__(self, bus: LatestValues[str, ResourceSet], options: TranslateOptions | None = None) -> None:
        self.bus = bus
        self.options = options
        self.translator = XdsTranslator()

    def publish(self, documents: Sequence[dict[str, Any]]) -> XdsUpdate:
        """Translate `documents` (the whole configuration) and publish the result; the update, for its changes."""
        update = self.translator.apply(gateway_ir(documents, self.options))
        self.bus.publish(GROUP, update.resources)
        return update
