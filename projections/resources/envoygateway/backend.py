"""Backend: a set of endpoints that routes can send traffic to without a Service (ip, fqdn or unix socket)."""

from __future__ import annotations

from typing import Literal

from projections.resources.envoygateway.tls import BackendTLSSettings
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.quantities import Port

AppProtocol = Literal["gateway.envoyproxy.io/h2c", "gateway.envoyproxy.io/ws", "gateway.envoyproxy.io/wss"]


class IPEndpoint(K8sModel, frozen=True, kw_only=True):
    address: str
    port: Port


class FQDNEndpoint(K8sModel, frozen=True, kw_only=True):
    hostname: str
    port: Port


class UnixSocket(K8sModel, frozen=True, kw_only=True):
    path: str


class BackendEndpoint(K8sModel, frozen=True, kw_only=True):
    """Exactly one of `ip`, `fqdn` and `unix`."""

    ip: IPEndpoint | None = None
    fqdn: FQDNEndpoint | None = None
    unix: UnixSocket | None = None
    zone: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.ip, self.fqdn, self.unix)) != 1:
            raise ValueError("an endpoint needs exactly one of ip, fqdn and unix")


class BackendSpec(K8sModel, frozen=True, kw_only=True):
    type: Literal["Endpoints", "DynamicResolver"] = "Endpoints"
    endpoints: tuple[BackendEndpoint, ...] = ()
    app_protocols: tuple[AppProtocol, ...] = ()
    fallback: bool | None = None
    tls: BackendTLSSettings | None = None

    def __post_init__(self) -> None:
        if self.type == "Endpoints" and not self.endpoints:
            raise ValueError("a Backend of type Endpoints needs at least one endpoint")
        if self.type == "DynamicResolver" and self.endpoints:
            raise ValueError("a Backend of type DynamicResolver takes no endpoints")


class Backend(K8sObject, frozen=True, kw_only=True):
    spec: BackendSpec
