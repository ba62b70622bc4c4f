"""Backend references: resolving a route's backendRef to a destination, and a destination to its endpoints.

A Service resolves through its EndpointSlices (label `kubernetes.io/service-name`; ports matched by name;
ready endpoints only); an Envoy Gateway Backend through its ip, fqdn or unix endpoints. Resolution (does the
target exist, may the route refer to it) is the route's concern; the endpoints are the destination's, so an
EndpointSlice change touches destinations only.
"""

from __future__ import annotations

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.backendtls import upstream_tls
from projections.gatewayapi.endpoints import backend_endpoints, service_endpoints
from projections.gatewayapi.grants import reference_permitted
from projections.gatewayapi.inputs import Reader
from projections.resources.core import Service
from projections.resources.envoygateway import GROUP as EG_GROUP
from projections.resources.envoygateway import Backend
from projections.resources.references import BackendRef


class Target(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """What a destination is built from: a Service port or a Backend."""

    name: str  # the Destination's name
    key: ResourceKey
    port: int | None = None
    protocol: str = "TCP"
    cluster_ip: bool = False  # a Service reached at its cluster IP (routingType Service), not its endpoints


def via_cluster_ip(target: Target) -> Target:
    """The destination of a Service port reached at the Service's cluster IP, as Envoy Gateway's routingType
    Service does: one endpoint, kube-proxy's virtual IP, and the Service's port."""
    return msgspec.structs.replace(target, name=f"{target.name}/cluster-ip", cluster_ip=True)


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    reason: str  # a ResolvedRefs reason
    message: str


def resolve_backend(reader: Reader, route: ResourceKey, ref: BackendRef) -> Target | Problem:
    """The destination a backendRef names, or why it names none."""
    namespace = ref.namespace or route.namespace
    target = ResourceKey(group=ref.group, kind=ref.kind, namespace=namespace, name=ref.name)
    if (ref.group, ref.kind) not in (("", "Service"), (EG_GROUP, "Backend")):
        group = ref.group or "core"
        return Problem(reason="InvalidKind", message=f"Kind {group}/{ref.kind} is not supported as a backend")
    if not reference_permitted(reader, route, target):
        return Problem(
            reason="RefNotPermitted",
            message=f"Backend ref to {ref.kind} {namespace}/{ref.name} not permitted by any ReferenceGrant",
        )
    if ref.kind == "Backend":
        if reader.model(target, Backend) is None:
            return Problem(reason="BackendNotFound", message=f"Backend {namespace}/{ref.name} not found")
        return Target(name=f"backend/{namespace}/{ref.name}", key=target)
    found = reader.model(target, Service)
    if found is None:
        return Problem(reason="BackendNotFound", message=f"Service {namespace}/{ref.name} not found")
    if ref.port is None:
        return Problem(
            reason="BackendNotFound",
            message=f"A port must be given for a backend ref to Service {namespace}/{ref.name}",
        )
    service_port = next((p for p in found[1].spec.ports if p.port == ref.port), None)
    if service_port is None:
        return Problem(reason="BackendNotFound", message=f"Port {ref.port} not found on Service {namespace}/{ref.name}")
    return Target(
        name=f"service/{namespace}/{ref.name}/{ref.port}", key=target, port=ref.port, protocol=service_port.protocol
    )


def build_destination(reader: Reader, target: Target) -> ir.Destination:
    """The destination `target` names, with its current endpoints and the TLS of its BackendTLSPolicy."""
    if target.key.kind == "Backend":
        return ir.hashed(_backend_destination(reader, target))
    found = reader.model(target.key, Service)
    if found is None:
        return ir.hashed(ir.Destination(name=target.name))
    service = found[1]
    port = next((p for p in service.spec.ports if p.port == target.port), None)
    if port is None:
        return ir.hashed(ir.Destination(name=target.name))
    if service.spec.type == "ExternalName" and service.spec.external_name:
        endpoints: tuple[ir.Endpoint, ...] = (
            ir.Endpoint(address=service.spec.external_name, port=port.port, type="FQDN"),
        )
    elif target.cluster_ip:  # a headless Service has no cluster IP: no endpoint
        address = service.spec.cluster_ip
        endpoints = (ir.Endpoint(address=address, port=port.port),) if address and not service.spec.headless else ()
    else:
        endpoints = service_endpoints(reader, target.key, port)
    return ir.hashed(
        ir.Destination(
            name=target.name,
            protocol=port.protocol,
            app_protocol=port.app_protocol,
            endpoints=endpoints,
            tls=upstream_tls(reader, target.key, port.name),
        )
    )


def _backend_destination(reader: Reader, target: Target) -> ir.Destination:
    found = reader.model(target.key, Backend)
    if found is None:
        return ir.Destination(name=target.name)
    backend = found[1]
    app_protocol = backend.spec.app_protocols[0] if backend.spec.app_protocols else None
    return ir.Destination(
        name=target.name,
        app_protocol=app_protocol,
        tls=upstream_tls(reader, target.key, None),
        endpoints=backend_endpoints(backend),
    )
