"""Core Kubernetes kinds egd reads: Service, Secret, ConfigMap (v1) and EndpointSlice (discovery.k8s.io/v1)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

import msgspec

from projections.resources.meta import K8sModel, K8sObject
from projections.resources.quantities import Port
from projections.resources.registry import KindInfo

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""

Protocol = Literal["TCP", "UDP", "SCTP"]
PortName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z", max_length=63)]
IanaServiceName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z", max_length=15)]
Base64 = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/\s]*={0,2}\s*$")]


# --- Service -------------------------------------------------------------------------------------------------


class ServicePort(K8sModel, frozen=True, kw_only=True):
    port: Port
    name: PortName | None = None
    protocol: Protocol = "TCP"
    app_protocol: str | None = None
    target_port: Port | IanaServiceName | None = None  # unset: the same as `port`
    node_port: Port | None = None

    @property
    def effective_target_port(self) -> int | str:
        """The endpoint port number, or the name of a container port, that traffic to `port` goes to."""
        return self.port if self.target_port is None else self.target_port


class ServiceSpec(K8sModel, frozen=True, kw_only=True):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"
    cluster_ip: str | None = msgspec.field(default=None, name="clusterIP")  # "None" for a headless Service
    cluster_ips: tuple[str, ...] = msgspec.field(default=(), name="clusterIPs")
    ports: tuple[ServicePort, ...] = ()
    selector: dict[str, str] = {}
    external_name: str | None = None
    ip_families: tuple[Literal["IPv4", "IPv6"], ...] = ()
    ip_family_policy: Literal["SingleStack", "PreferDualStack", "RequireDualStack"] | None = None
    session_affinity: Literal["ClientIP", "None"] = "None"
    publish_not_ready_addresses: bool = False
    external_traffic_policy: Literal["Cluster", "Local"] | None = None
    internal_traffic_policy: Literal["Cluster", "Local"] | None = None

    def __post_init__(self) -> None:
        if self.type == "ExternalName" and not self.external_name:
            raise ValueError("a Service of type ExternalName needs spec.externalName")

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"


class Service(K8sObject, frozen=True, kw_only=True):
    spec: ServiceSpec = ServiceSpec()

    def port_named(self, port: int) -> ServicePort | None:
        """The Service port with number `port` (as a Gateway API backendRef names it), if any."""
        return next((p for p in self.spec.ports if p.port == port), None)


# --- Secret and ConfigMap ------------------------------------------------------------------------------------


class Secret(K8sObject, frozen=True, kw_only=True):
    type: str = "Opaque"  # kubernetes.io/tls, kubernetes.io/basic-auth, ... or any custom type
    data: dict[str, Base64] = {}  # values base64-encoded
    string_data: dict[str, str] = {}  # values as plain text; win over `data` for the same key
    immutable: bool = False

    def __post_init__(self) -> None:
        for key, value in self.data.items():
            try:
                base64.b64decode(value, validate=False)
            except binascii.Error as exc:
                raise ValueError(f"data[{key!r}] is not valid base64: {exc}") from exc

    def value(self, key: str) -> bytes | None:
        """The decoded bytes of `key`, or None when the Secret has no such key."""
        if key in self.string_data:
            return self.string_data[key].encode()
        if key in self.data:
            return base64.b64decode(self.data[key])
        return None


class ConfigMap(K8sObject, frozen=True, kw_only=True):
    data: dict[str, str] = {}
    binary_data: dict[str, Base64] = {}
    immutable: bool = False


# --- EndpointSlice -------------------------------------------------------------------------------------------


class EndpointConditions(K8sModel, frozen=True, kw_only=True):
    """Kubernetes reads an unset `ready` as ready; `serving` and `terminating` as unknown."""

    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(K8sModel, frozen=True, kw_only=True):
    addresses: Annotated[tuple[str, ...], msgspec.Meta(min_length=1, max_length=100)]
    conditions: EndpointConditions = EndpointConditions()
    hostname: str | None = None
    node_name: str | None = None
    zone: str | None = None

    @property
    def ready(self) -> bool:
        return self.conditions.ready is not False


class EndpointPort(K8sModel, frozen=True, kw_only=True):
    name: str | None = None
    port: Port | None = None  # unset: every port
    protocol: Protocol = "TCP"
    app_protocol: str | None = None


class EndpointSlice(K8sObject, frozen=True, kw_only=True):
    address_type: Literal["IPv4", "IPv6", "FQDN"]
    endpoints: Annotated[tuple[Endpoint, ...], msgspec.Meta(max_length=1000)] = ()
    ports: Annotated[tuple[EndpointPort, ...], msgspec.Meta(max_length=100)] = ()

    @property
    def service_name(self) -> str | None:
        """The Service this slice belongs to (label `kubernetes.io/service-name`)."""
        return self.metadata.labels.get(SERVICE_NAME_LABEL)


KINDS = [
    KindInfo(
        group="",
        versions=("v1",),
        kind="Service",
        plural="services",
        namespaced=True,
        model=Service,
        short_names=("svc",),
        name_format="dns1035-label",
    ),
    KindInfo(group="", versions=("v1",), kind="Secret", plural="secrets", namespaced=True, model=Secret),
    KindInfo(
        group="",
        versions=("v1",),
        kind="ConfigMap",
        plural="configmaps",
        namespaced=True,
        model=ConfigMap,
        short_names=("cm",),
    ),
    KindInfo(
        group="discovery.k8s.io",
        versions=("v1",),
        kind="EndpointSlice",
        plural="endpointslices",
        namespaced=True,
        model=EndpointSlice,
    ),
]
