"""A Gateway's IR and status from its validated listeners, the routes attached to them and their
destinations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from projections import ir
from projections.gatewayapi.gateways import GatewayContext, ListenerContext
from projections.gatewayapi.http import RankedRoute
from projections.gatewayapi.routes import Attachment
from projections.gatewayapi.status import (
    GatewayStatus,
    GatewayStatusAddress,
    ListenerStatus,
    condition,
)


def assemble_gateway(
    gateway: GatewayContext,
    attachments: Iterable[Attachment],
    destinations: Mapping[str, ir.Destination],
) -> tuple[ir.GatewayIR, GatewayStatus]:
    """`attachments` are every route attachment to this Gateway; `destinations` holds at least those they use."""
    by_listener: dict[str, list[Attachment]] = defaultdict(list)
    for attachment in attachments:
        by_listener[attachment.listener].append(attachment)
    prefix = f"{gateway.key.namespace}/{gateway.key.name}"
    address = gateway.addresses[0]
    http: list[ir.HTTPListener] = []
    l4: list[ir.L4Listener] = []
    used: set[str] = set()
    listener_statuses: list[ListenerStatus] = []
    programmed_any = False
    for listener in gateway.listeners:
        attached = by_listener.get(listener.name, [])
        listener_statuses.append(_listener_status(gateway, listener, len(attached)))
        if not listener.ready or not gateway.accepted:
            continue
        programmed_any = True
        for attachment in attached:
            used.update(attachment.destinations)
        name = f"{prefix}/{listener.name}"
        if listener.protocol in ("HTTP", "HTTPS"):
            http.append(_http_listener(name, address, listener, attached))
        else:
            routes = sorted((a.l4 for a in attached if a.l4 is not None), key=lambda r: r.name)
            l4.append(
                ir.hashed(
                    ir.L4Listener(
                        name=name,
                        protocol=listener.protocol,
                        address=address,
                        port=listener.port,
                        hostname=listener.hostname,
                        tls=ir.TLSConfig(certificates=listener.certificates) if listener.certificates else None,
                        routes=tuple(routes),
                    )
                )
            )
    gateway_ir = ir.hashed(
        ir.GatewayIR(
            name=prefix,
            addresses=gateway.addresses,
            http=tuple(http),
            l4=tuple(l4),
            destinations=tuple(destinations[name] for name in sorted(used) if name in destinations),
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


def _http_listener(name: str, address: str, listener: ListenerContext, attached: list[Attachment]) -> ir.HTTPListener:
    by_host: dict[str, list[RankedRoute]] = defaultdict(list)
    for attachment in attached:
        for ranked in attachment.http:
            by_host[ranked.route.hostname].append(ranked)
    virtual_hosts = []
    for hostname in sorted(by_host):
        routes = sorted(by_host[hostname], key=lambda r: r.rank)
        virtual_hosts.append(
            ir.hashed(
                ir.VirtualHost(name=f"{name}/{hostname}", hostname=hostname, routes=tuple(r.route for r in routes))
            )
        )
    tls = ir.TLSConfig(certificates=listener.certificates) if listener.protocol == "HTTPS" else None
    return ir.hashed(
        ir.HTTPListener(
            name=name,
            address=address,
            port=listener.port,
            hostname=listener.hostname,
            tls=tls,
            virtual_hosts=tuple(virtual_hosts),
        )
    )
