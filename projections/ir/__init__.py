"""The intermediate representation: one `GatewayIR` per Gateway, the input of the xDS and rate-limit stages.

Every piece that the xDS stage turns into a resource (listener, virtual host, route, destination) has a
stable `name` (its identity across translations) and a `hash` over its content, so that a later stage can
tell exactly what changed between two IRs without comparing them field by field.
"""

from projections.ir.gateway import (
    AttachedPolicy,
    Certificate,
    Destination,
    DirectResponse,
    Endpoint,
    GatewayIR,
    HeaderMatch,
    HeaderModifier,
    HTTPListener,
    HTTPRoute,
    L4Listener,
    L4Route,
    Mirror,
    PathMatch,
    QueryMatch,
    Redirect,
    Timeouts,
    TLSConfig,
    URLRewrite,
    VirtualHost,
    WeightedBackend,
    content_hash,
    decode_gateway_ir,
    encode_gateway_ir,
    hashed,
)

__all__ = [
    "AttachedPolicy",
    "Certificate",
    "Destination",
    "DirectResponse",
    "Endpoint",
    "GatewayIR",
    "HTTPListener",
    "HTTPRoute",
    "HeaderMatch",
    "HeaderModifier",
    "L4Listener",
    "L4Route",
    "Mirror",
    "PathMatch",
    "QueryMatch",
    "Redirect",
    "TLSConfig",
    "Timeouts",
    "URLRewrite",
    "VirtualHost",
    "WeightedBackend",
    "content_hash",
    "decode_gateway_ir",
    "encode_gateway_ir",
    "hashed",
]
