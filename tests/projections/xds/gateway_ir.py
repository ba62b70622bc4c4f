"""Hypothesis strategies for GatewayIRs that exercise every builder: HTTP, HTTPS, TCP, UDP and TLS listeners,
every route match and filter, weighted and invalid backends, gRPC routes, IP, hostname and unix destinations."""

from __future__ import annotations

import msgspec
from hypothesis import strategies as st

from projections import ir

GATEWAY = "default/gw"
DESTINATIONS = [f"service/default/svc-{i}/80" for i in range(4)] + ["backend/default/dns", "backend/default/uds"]
HOSTNAMES = ["*", "a.example.com", "b.example.com", "*.example.com"]


def _destination(name: str, variant: int) -> ir.Destination:
    if name == "backend/default/dns":
        endpoints = (ir.Endpoint(address="dns.example.org", port=443 + variant, type="FQDN"),)
    elif name == "backend/default/uds":
        endpoints = (ir.Endpoint(address=f"/run/app-{variant}.sock", type="Unix"),)
    else:
        endpoints = tuple(
            ir.Endpoint(address=f"10.0.{variant}.{n}", port=8080, zone="z1" if n % 2 else None)
            for n in range(1 + variant % 3)
        )
    return ir.hashed(
        ir.Destination(name=name, endpoints=endpoints, app_protocol="kubernetes.io/h2c" if variant == 3 else None)
    )


destinations = st.lists(st.integers(0, 3), min_size=len(DESTINATIONS), max_size=len(DESTINATIONS)).map(
    lambda variants: tuple(_destination(n, v) for n, v in zip(DESTINATIONS, variants, strict=True))
)

backends = st.lists(
    st.builds(ir.WeightedBackend, destination=st.sampled_from(DESTINATIONS), weight=st.integers(0, 3)), max_size=3
).map(tuple)
paths = st.one_of(
    st.none(),
    st.builds(ir.PathMatch, type=st.just("PathPrefix"), value=st.sampled_from(["/", "/api", "/api/", "/v1"])),
    st.builds(ir.PathMatch, type=st.just("Exact"), value=st.sampled_from(["/x", "/health"])),
    st.builds(ir.PathMatch, type=st.just("RegularExpression"), value=st.just("/[a-z]+")),
)
modifiers = st.one_of(
    st.none(),
    st.builds(
        ir.HeaderModifier,
        set=st.just((("x-set", "1"),)),
        add=st.lists(st.tuples(st.just("x-add"), st.sampled_from(["a", "b"])), max_size=2).map(tuple),
        remove=st.lists(st.sampled_from(["x-gone", "x-other"]), max_size=2, unique=True).map(tuple),
    ),
)
actions = st.one_of(
    st.just({}),
    st.builds(
        lambda status: {"direct_response": ir.DirectResponse(status=status, body="no" if status != 500 else "")},
        st.sampled_from([418, 500]),
    ),
    st.builds(
        lambda code, path: {
            "redirect": ir.Redirect(
                scheme="https", status_code=code, path_type="ReplaceFullPath" if path else None, path_value=path
            )
        },
        st.sampled_from([301, 302, 308]),
        st.sampled_from([None, "/new"]),
    ),
)
rewrites = st.one_of(
    st.none(),
    st.builds(
        ir.URLRewrite,
        hostname=st.sampled_from([None, "internal"]),
        path_type=st.sampled_from([None, "ReplaceFullPath", "ReplacePrefixMatch"]),
        path_value=st.sampled_from(["/", "/new"]),
    ),
)


# Strategies are built once, here: building them inside the composites below (per draw) made generation
# several times slower (hypothesis validates each new strategy object).
methods = st.sampled_from([None, "GET"])
header_matches = st.lists(st.builds(ir.HeaderMatch, name=st.just("x-v"), value=st.just("1")), max_size=1).map(tuple)
query_matches = st.lists(
    st.builds(ir.QueryMatch, name=st.just("q"), value=st.just("1"), type=st.just("Exact")), max_size=1
).map(tuple)
mirrors = st.lists(
    st.builds(ir.Mirror, destination=st.sampled_from(DESTINATIONS), numerator=st.integers(1, 100)), max_size=1
).map(tuple)
timeouts = st.one_of(
    st.none(),
    st.builds(
        ir.Timeouts, request_ms=st.sampled_from([None, 0, 1500]), backend_request_ms=st.sampled_from([None, 700])
    ),
)


@st.composite
def http_routes(draw: st.DrawFn, name: str, hostname: str) -> ir.HTTPRoute:
    return ir.hashed(
        ir.HTTPRoute(
            name=name,
            hostname=hostname,
            grpc=draw(st.booleans()),
            path=draw(paths),
            method=draw(methods),
            headers=draw(header_matches),
            query_params=draw(query_matches),
            backends=draw(backends),
            invalid_backend_weight=draw(st.integers(0, 2)),
            url_rewrite=draw(rewrites),
            request_headers=draw(modifiers),
            response_headers=draw(modifiers),
            mirrors=draw(mirrors),
            timeouts=draw(timeouts),
            **draw(actions),
        )
    )


virtual_host_names = st.lists(st.sampled_from(HOSTNAMES), max_size=3, unique=True)
plain_listeners = st.lists(st.sampled_from([("any", None), ("foo", "a.example.com")]), unique=True)
tls_listeners = st.lists(
    st.sampled_from([("https", None), ("www", "a.example.com"), ("wild", "*.example.com")]), unique=True
)
l4_kinds = st.lists(st.sampled_from(["tcp", "udp", "passthrough", "terminate"]), unique=True)
sni_hostnames = st.lists(st.sampled_from(HOSTNAMES[1:]), max_size=2, unique=True).map(tuple)


@st.composite
def virtual_hosts(draw: st.DrawFn, listener: str) -> tuple[ir.VirtualHost, ...]:
    hostnames = draw(virtual_host_names)
    out = []
    for hostname in hostnames:
        count = draw(st.integers(0, 4))
        routes = [draw(http_routes(f"httproute/default/r{i}/rule/0/match/0", hostname)) for i in range(count)]
        order = draw(st.permutations(routes))
        out.append(ir.hashed(ir.VirtualHost(name=f"{listener}/{hostname}", hostname=hostname, routes=tuple(order))))
    return tuple(out)


HTTP3 = ir.ClientSettings(policy="default/http3", http3=True)  # a ClientTrafficPolicy with `http3`


def certificate(name: str, variant: int) -> ir.Certificate:
    return ir.Certificate(
        name=f"default/{name}", certificate_chain=f"CERT {name} {variant}", private_key=f"KEY {name} {variant}"
    )


@st.composite
def http_listeners(draw: st.DrawFn, address: str) -> tuple[ir.HTTPListener, ...]:
    out = []
    for name, hostname in draw(plain_listeners):
        listener = f"{GATEWAY}/{name}"
        out.append(
            ir.hashed(
                ir.HTTPListener(
                    name=listener,
                    address=address,
                    port=80,
                    hostname=hostname,
                    virtual_hosts=draw(virtual_hosts(listener)),
                )
            )
        )
    for name, hostname in draw(tls_listeners):
        listener = f"{GATEWAY}/{name}"
        variant = draw(st.integers(0, 1))
        out.append(
            ir.hashed(
                ir.HTTPListener(
                    name=listener,
                    address=address,
                    port=443,
                    hostname=hostname,
                    tls=ir.TLSConfig(certificates=(certificate(name if variant else "shared", variant),)),
                    virtual_hosts=draw(virtual_hosts(listener)),
                    client=HTTP3 if draw(st.booleans()) else None,
                )
            )
        )
    return tuple(out)


@st.composite
def l4_listeners(draw: st.DrawFn, address: str) -> tuple[ir.L4Listener, ...]:
    out = []
    kinds = draw(l4_kinds)
    for kind in kinds:
        routes = tuple(
            ir.hashed(
                ir.L4Route(
                    name=f"{kind}route/default/r{i}",
                    sni_hostnames=draw(sni_hostnames) if kind == "passthrough" else (),
                    backends=draw(backends),
                    invalid_backend_weight=draw(st.integers(0, 1)),
                )
            )
            for i in range(draw(st.integers(0, 2)))
        )
        protocol = {"tcp": "TCP", "udp": "UDP"}.get(kind, "TLS")
        tls = ir.TLSConfig(certificates=(certificate("l4", 0),)) if kind == "terminate" else None
        port = {"tcp": 9000, "udp": 9000, "passthrough": 443, "terminate": 8443}[kind]
        out.append(
            ir.hashed(
                ir.L4Listener(
                    name=f"{GATEWAY}/{kind}", protocol=protocol, address=address, port=port, tls=tls, routes=routes
                )
            )
        )
    return tuple(out)


addresses = st.sampled_from(["0.0.0.0", "10.1.2.3"])
# The EnvoyProxy's stats switches (which shape route configurations and route clusters), or no EnvoyProxy.
telemetries = st.one_of(
    st.none(),
    st.builds(
        lambda virtual_host, endpoint, sizes: ir.Telemetry(
            metrics=ir.Metrics(
                virtual_host_stats=virtual_host, per_endpoint_stats=endpoint, request_response_sizes_stats=sizes
            )
        ),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
)


@st.composite
def gateway_irs(draw: st.DrawFn) -> ir.GatewayIR:
    address = draw(addresses)
    return ir.hashed(
        ir.GatewayIR(
            name=GATEWAY,
            addresses=(address,),
            http=draw(http_listeners(address)),
            l4=draw(l4_listeners(address)),
            destinations=draw(destinations),
            telemetry=draw(telemetries),
        )
    )


def with_route(gateway: ir.GatewayIR, listener: int, host: int, index: int, route: ir.HTTPRoute) -> ir.GatewayIR:
    """`gateway` with the route at `index` of a virtual host replaced (hashes recomputed up the tree)."""
    http = list(gateway.http)
    virtual_hosts = list(http[listener].virtual_hosts)
    routes = list(virtual_hosts[host].routes)
    routes[index] = route
    virtual_hosts[host] = ir.hashed(msgspec.structs.replace(virtual_hosts[host], routes=tuple(routes)))
    http[listener] = ir.hashed(msgspec.structs.replace(http[listener], virtual_hosts=tuple(virtual_hosts)))
    return ir.hashed(msgspec.structs.replace(gateway, http=tuple(http)))
