"""A Gateway's IR and status from its validated listeners, the routes attached to them and their
destinations."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from projections import ir
from projections.gatewayapi.attached import GatewayRoutes
from projections.gatewayapi.clienttraffic import ListenerClient, with_client
from projections.gatewayapi.gateways import GatewayContext, ListenerContext
from projections.gatewayapi.routes import answering_500
from projections.gatewayapi.status import (
    GatewayStatus,
    GatewayStatusAddress,
    ListenerStatus,
    condition,
)


def assemble_gateway(
    gateway: GatewayContext,
    routes: GatewayRoutes,
    destinations: Mapping[str, ir.Destination],
    clients: Mapping[str, ListenerClient] | None = None,
) -> tuple[ir.GatewayIR, GatewayStatus]:
    """`routes` holds every route attachment to this Gateway; `destinations` at least those they use."""
    prefix = f"{gateway.key.namespace}/{gateway.key.name}"
    address = gateway.addresses[0]
    http: list[ir.HTTPListener] = []
    l4: list[ir.L4Listener] = []
    listener_statuses: list[ListenerStatus] = []
    programmed_any = False
    for listener in gateway.listeners:
        attached = routes.listener(listener.name)
        listener_statuses.append(_listener_status(gateway, listener, len(attached.routes)))
        if not listener.ready or not gateway.accepted:
            continue
        programmed_any = True
        name = f"{prefix}/{listener.name}"
        client = (clients or {}).get(listener.name)
        settings = client.settings if client is not None else None
        if listener.protocol in ("HTTP", "HTTPS"):
            tls = ir.TLSConfig(certificates=listener.certificates) if listener.protocol == "HTTPS" else None
            tls = with_client(tls, client)
            hosts = attached.hosts()
            virtual_hosts = hosts.virtual_hosts
            if client is not None and client.refused:
                virtual_hosts = tuple(_answering_500(host) for host in virtual_hosts)
            http.append(
                ir.hashed(
                    ir.HTTPListener(
                        name=name,
                        address=address,
                        port=listener.port,
                        hostname=listener.hostname,
                        tls=tls,
                        virtual_hosts=virtual_hosts,
                        rate_limit_types=hosts.rate_limit_types,
                        security_filters=hosts.security_filters,
                        extension_filters=hosts.extension_filters,
                        filters=hosts.filters,
                        client=settings,
                    )
                )
            )
        else:
            l4.append(
                ir.hashed(
                    ir.L4Listener(
                        name=name,
                        protocol=listener.protocol,
                        address=address,
                        port=listener.port,
                        hostname=listener.hostname,
                        tls=with_client(
                            ir.TLSConfig(certificates=listener.certificates) if listener.certificates else None, client
                        ),
                        routes=() if client is not None and client.refused else attached.l4_routes(),
                        client=settings,
                    )
                )
            )
    gateway_ir = ir.hashed(
        ir.GatewayIR(
            name=prefix,
            addresses=gateway.addresses,
            http=tuple(http),
            l4=tuple(l4),
            destinations=tuple(destinations[name] for name in sorted(routes.destinations) if name in destinations),
            envoy_patches=gateway.envoy_patches,
            telemetry=gateway.telemetry,
            backend_tls=gateway.backend_tls,
            cluster_variants=tuple(routes.variants[name] for name in sorted(routes.variants)),
        )
    )
    if gateway.accepted and programmed_any:
        programmed = condition("Programmed", True, "Programmed", "Address assigned to the Gateway", gateway.generation)
    elif gateway.accepted:
        programmed = condition("Programmed", False, "Invalid", "The Gateway has no ready listeners", gateway.generation)
    else:
        programmed = condition("Programmed", False, "Invalid", "The Gateway is not accepted", gateway.generation)
    status = GatewayStatus(
        addresses=tuple(GatewayStatusAddress(type=gateway.address_type, value=a) for a in gateway.addresses),
        conditions=(gateway.accepted_condition, programmed),
        listeners=tuple(listener_statuses),
    )
    return gateway_ir, status


def _answering_500(host: ir.VirtualHost) -> ir.VirtualHost:
    """A virtual host of a listener whose ClientTrafficPolicy cannot be honoured (see `ListenerClient`)."""
    return ir.hashed(msgspec.structs.replace(host, routes=tuple(ir.hashed(answering_500(r)) for r in host.routes)))


def _listener_status(gateway: GatewayContext, listener: ListenerContext, attached: int) -> ListenerStatus:
    if listener.ready and gateway.accepted:
        programmed = condition(
            "Programmed",
            True,
            "Programmed",
            "Sending translated listener configuration to the data plane",
            gateway.generation,
        )
    else:
        programmed = condition(
            "Programmed", False, "Invalid", "Listener is invalid, see other conditions", gateway.generation
        )
    accepted, conflicted, resolved = listener.conditions
    return ListenerStatus(
        name=listener.name,
        supported_kinds=listener.kinds,
        attached_routes=attached,
        conditions=(accepted, conflicted, programmed, resolved),
    )
