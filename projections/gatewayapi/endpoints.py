"""The endpoints behind a backend: a Service's ready EndpointSlice members on one of its ports, or an Envoy
Gateway Backend's ip, fqdn and unix endpoints. Shared by route destinations and the EnvoyProxy's collectors."""

from __future__ import annotations

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.inputs import Reader
from projections.resources.core import EndpointSlice, ServicePort
from projections.resources.envoygateway import Backend


def service_endpoints(reader: Reader, service: ResourceKey, port: ServicePort) -> tuple[ir.Endpoint, ...]:
    """The ready endpoints of `service`'s EndpointSlices on `port` (matched by name and protocol), sorted."""
    endpoints: set[ir.Endpoint] = set()
    for resource in reader.slices_of(service.namespace, service.name):
        endpoint_slice = resource.model
        if not isinstance(endpoint_slice, EndpointSlice):
            continue
        slice_port = next(
            (
                p.port
                for p in endpoint_slice.ports
                if (p.name or "") == (port.name or "") and p.protocol == port.protocol
            ),
            None,
        )
        if slice_port is None:
            continue
        kind = "FQDN" if endpoint_slice.address_type == "FQDN" else "IP"
        for member in endpoint_slice.endpoints:
            if member.conditions.ready is False:
                continue
            for address in member.addresses:
                endpoints.add(ir.Endpoint(address=address, port=slice_port, type=kind, zone=member.zone))
    return tuple(sorted(endpoints, key=lambda e: (e.address, e.port, e.type, e.zone or "")))


def backend_endpoints(backend: Backend) -> tuple[ir.Endpoint, ...]:
    """A Backend's endpoints (with their zones), each once, sorted."""
    endpoints: set[ir.Endpoint] = set()
    for endpoint in backend.spec.endpoints:
        zone = endpoint.zone
        if endpoint.ip is not None:
            endpoints.add(ir.Endpoint(address=endpoint.ip.address, port=endpoint.ip.port, type="IP", zone=zone))
        elif endpoint.fqdn is not None:
            endpoints.add(ir.Endpoint(address=endpoint.fqdn.hostname, port=endpoint.fqdn.port, type="FQDN", zone=zone))
        elif endpoint.unix is not None:
            endpoints.add(ir.Endpoint(address=endpoint.unix.path, type="Unix", zone=zone))
    return tuple(sorted(endpoints, key=lambda e: (e.address, e.port, e.type, e.zone or "")))
