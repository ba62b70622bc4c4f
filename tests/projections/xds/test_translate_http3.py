"""HTTP/3 (ClientTrafficPolicy `http3`) in the xDS translation: turning it on or off changes the QUIC listener
and the `alt-svc` of the listener's route configuration, nothing else."""

from __future__ import annotations

import msgspec

from projections import ir
from projections.xds.resources import LISTENER, ROUTE_CONFIGURATION, TypeDiff
from projections.xds.translate import XdsTranslator
from projections.xds.translate.render import decode_resource

GATEWAY = "default/eg"
HTTPS = f"{GATEWAY}/https"
QUIC = f"{GATEWAY}/quic/0.0.0.0/443"


def gateway(client: ir.ClientSettings | None, *, udp_on_443: bool = False) -> ir.GatewayIR:
    destination = ir.hashed(ir.Destination(name="service/default/s/80", endpoints=(ir.Endpoint(address="10.0.0.1"),)))
    route = ir.hashed(
        ir.HTTPRoute(
            name="httproute/default/r/rule/0/match/0",
            hostname="a.example.com",
            backends=(ir.WeightedBackend(destination=destination.name, weight=1),),
        )
    )
    host = ir.hashed(ir.VirtualHost(name=f"{HTTPS}/a.example.com", hostname="a.example.com", routes=(route,)))
    certificate = ir.Certificate(name="default/cert", certificate_chain="CERT", private_key="KEY")
    https = ir.HTTPListener(
        name=HTTPS,
        address="0.0.0.0",
        port=443,
        hostname="a.example.com",
        tls=ir.TLSConfig(certificates=(certificate,)),
        virtual_hosts=(host,),
        client=client,
    )
    udp = ir.L4Listener(name=f"{GATEWAY}/udp", protocol="UDP", address="0.0.0.0", port=443)
    return ir.hashed(
        ir.GatewayIR(
            name=GATEWAY,
            addresses=("0.0.0.0",),
            http=(ir.hashed(https),),
            l4=(ir.hashed(udp),) if udp_on_443 else (),
            destinations=(destination,),
        )
    )


HTTP3 = ir.ClientSettings(policy="default/client", http3=True)
NO_HTTP3 = msgspec.structs.replace(HTTP3, http3=False)


def _alt_svc(translator: XdsTranslator) -> list[str]:
    found = decode_resource(ROUTE_CONFIGURATION, translator.resources.of_type(ROUTE_CONFIGURATION)[HTTPS].body)
    return [h.header.value for h in found.response_headers_to_add if h.header.key == "alt-svc"]


def test_turning_http3_on_and_off_touches_the_quic_listener_and_the_route_configuration() -> None:
    translator = XdsTranslator()
    translator.apply(gateway(NO_HTTP3))
    assert QUIC not in translator.resources.of_type(LISTENER)
    assert _alt_svc(translator) == []

    on = translator.apply(gateway(HTTP3))
    assert on.changes == {
        LISTENER: TypeDiff(updated=(QUIC,), removed=()),
        ROUTE_CONFIGURATION: TypeDiff(updated=(HTTPS,), removed=()),
    }
    assert _alt_svc(translator) == ['h3=":443"; ma=86400']

    off = translator.apply(gateway(NO_HTTP3))
    assert off.changes == {
        LISTENER: TypeDiff(updated=(), removed=(QUIC,)),
        ROUTE_CONFIGURATION: TypeDiff(updated=(HTTPS,), removed=()),
    }
    assert _alt_svc(translator) == []


def test_no_quic_on_a_port_a_udp_listener_uses() -> None:
    translator = XdsTranslator()
    translator.apply(gateway(HTTP3, udp_on_443=True))
    assert QUIC not in translator.resources.of_type(LISTENER)
    assert _alt_svc(translator) == []
