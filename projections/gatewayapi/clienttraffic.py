"""ClientTrafficPolicy -> how each listener of a Gateway treats its clients (`ir.ClientSettings`, and TLS
settings for HTTPS and TLS listeners), and what in a policy egd cannot honour.

A listener's policy is the one naming it by `sectionName`, else the Gateway's (`policies.gateway_policies`);
the whole policy applies, as in Envoy Gateway (no per-field merge between the two).
"""

from __future__ import annotations

import msgspec

from projections import ir
from projections.gatewayapi.backendtraffic import http2_settings, parse_quantity, tcp_keepalive
from projections.gatewayapi.cacerts import CARef, read_ca_bundle
from projections.gatewayapi.gateways import GatewayContext
from projections.gatewayapi.http import parse_duration
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.policies import gateway_policies
from projections.resources.envoygateway import ClientTrafficPolicy
from projections.resources.envoygateway.clienttrafficpolicy import ClientTrafficPolicySpec, HeaderSettings
from projections.resources.envoygateway.tls import ClientTLSSettings
from projections.resources.gatewayapi import HTTPHeaderFilter

CTP = "ClientTrafficPolicy"


class ListenerClient(msgspec.Struct, frozen=True, kw_only=True):
    """What a ClientTrafficPolicy sets on one listener: client settings and TLS settings (certificates apart);
    or that its policy cannot be honoured (`refused`): then, as in Envoy Gateway, the listener fails closed (its
    HTTP routes answer 500, its TCP and TLS routes go nowhere) rather than serve without, say, the client
    certificates the policy asks for."""

    settings: ir.ClientSettings | None = None
    tls: ir.TLSConfig | None = None
    refused: bool = False


REFUSED = ListenerClient(refused=True)


def _ms(text: str | None) -> int | None:
    return parse_duration(text) if text is not None else None


def _ca_refs(policy: Resource, spec: ClientTrafficPolicySpec) -> list[CARef]:
    validation = spec.tls.client_validation if spec.tls is not None else None
    if validation is None:
        return []
    return [
        CARef(kind=ref.kind, name=ref.name, namespace=ref.namespace or policy.key.namespace)
        for ref in validation.ca_certificate_refs
    ]


def check_client_traffic(reader: Reader, policy: Resource) -> tuple[str, ...]:
    """What egd cannot honour in a ClientTrafficPolicy (then it applies nowhere, as in Envoy Gateway)."""
    model = policy.model
    if not isinstance(model, ClientTrafficPolicy):
        return ()
    spec = model.spec
    connection = spec.connection
    problems = []
    if connection is not None and connection.socket_buffer_limit is not None:
        problems.extend(_socket_buffer_problem(connection.socket_buffer_limit))
    validation = spec.tls.client_validation if spec.tls is not None else None
    if validation is not None:
        if not validation.ca_certificate_refs:
            problems.append("tls.clientValidation needs caCertificateRefs")
        _, found = read_ca_bundle(reader, _ca_refs(policy, spec))
        problems.extend(found)
    return tuple(problems)


_INT32_MAX = 2**31 - 1  # SO_RCVBUF and SO_SNDBUF take an int


def _socket_buffer_problem(quantity: str | int) -> list[str]:
    try:
        count = parse_quantity(quantity)
    except ValueError:
        return [f"connection.socketBufferLimit {quantity!r} is not a quantity"]
    if not 1 <= count <= _INT32_MAX:
        return [f"connection.socketBufferLimit {quantity!r} is out of range: between 1 and {_INT32_MAX} bytes"]
    return []


def _session_resumption(spec: ClientTLSSettings) -> tuple[str, ...]:
    """The TLS session resumption methods a policy allows: none unless `tls.session.resumption` lists them."""
    resumption = spec.session.resumption if spec.session is not None else None
    if resumption is None:
        return ()
    allowed = (("Stateful", resumption.stateful), ("Stateless", resumption.stateless))
    return tuple(name for name, method in allowed if method is not None)


def _xfcc(headers: HeaderSettings | None) -> tuple[str | None, tuple[str, ...]]:
    """X-Forwarded-Client-Cert mode (Envoy Gateway's default: Sanitize) and the certificate details to add,
    which only AppendForward and SanitizeSet use."""
    xfcc = headers.x_forwarded_client_cert if headers is not None else None
    if xfcc is None:
        return None, ()
    mode = xfcc.mode or "Sanitize"
    return mode, xfcc.cert_details_to_add if mode in ("AppendForward", "SanitizeSet") else ()


def check_client_traffic_target(policy: Resource, gateway: GatewayContext, section: str | None) -> tuple[str, ...]:
    """What a ClientTrafficPolicy cannot honour on one target: its Gateway, or its listener `section`.

    An HTTP listener shares its port's connection manager with the Gateway's other HTTP listeners on that
    port: a policy on it alone would apply to them all, so it cannot target it (Envoy Gateway's rule and message).
    HTTP/3 is served beside HTTPS listeners only (QUIC is TLS), on the same port over UDP, as in Envoy
    Gateway (which ignores it on other listeners); a target without such a listener cannot have it. A port a
    UDP listener of the Gateway already uses gets no QUIC listener.
    """
    model = policy.model
    if not isinstance(model, ClientTrafficPolicy):
        return ()
    target = gateway.listener(section) if section is not None else None
    if target is not None and target.protocol == "HTTP":
        prefix = f"{gateway.key.namespace}/{gateway.key.name}"
        sharing = ", ".join(
            f"{prefix}/{x.name}"
            for x in gateway.listeners
            if x.protocol == "HTTP" and x.port == target.port and x is not target
        )
        if sharing:
            return (
                f"ClientTrafficPolicy is being applied to multiple http (non https) listeners ({sharing}) on the "
                "same port, which is not allowed",
            )
    if model.spec.http3 is None:
        return ()
    scope = [x for x in gateway.listeners if section is None or x.name == section]
    https = {x.port for x in scope if x.protocol == "HTTPS"}
    if not https:
        where = f"Gateway {gateway.key.name} has none" if section is None else f"listener {section} is not HTTPS"
        return (f"http3 needs an HTTPS listener: {where}",)
    if https <= {x.port for x in gateway.listeners if x.protocol == "UDP"}:
        ports = ", ".join(str(p) for p in sorted(https))
        return (f"http3 needs the UDP port of an HTTPS listener, but UDP listeners use {ports}",)
    return ()


def _header_modifier(spec: HTTPHeaderFilter | None) -> ir.HeaderModifier | None:
    if spec is None:
        return None
    return ir.HeaderModifier(
        set=tuple((h.name, h.value) for h in spec.set),
        add=tuple((h.name, h.value) for h in spec.add),
        remove=tuple(spec.remove),
    )


def listener_client(reader: Reader, policy: Resource) -> ListenerClient:
    assert isinstance(policy.model, ClientTrafficPolicy)
    spec = policy.model.spec
    timeout = spec.timeout.http if spec.timeout is not None else None
    connection = spec.connection
    http1 = spec.http1
    path = spec.path
    headers = spec.headers
    detection = spec.client_ip_detection
    xff = detection.x_forwarded_for if detection is not None else None
    proxy_protocol = spec.proxy_protocol is not None or bool(spec.enable_proxy_protocol)
    xfcc_mode, xfcc_details = _xfcc(headers)
    tcp_timeout = spec.timeout.tcp if spec.timeout is not None else None
    settings = ir.ClientSettings(
        policy=f"{policy.key.namespace}/{policy.key.name}",
        tcp_keepalive=tcp_keepalive(spec.tcp_keepalive),
        proxy_protocol=proxy_protocol,
        proxy_protocol_optional=bool(spec.proxy_protocol.optional) if spec.proxy_protocol is not None else False,
        connection_limit=connection.connection_limit.value if connection and connection.connection_limit else None,
        buffer_limit_bytes=(
            parse_quantity(connection.buffer_limit) if connection and connection.buffer_limit is not None else None
        ),
        socket_buffer_limit_bytes=(
            parse_quantity(connection.socket_buffer_limit)
            if connection and connection.socket_buffer_limit is not None
            else None
        ),
        idle_timeout_ms=_ms(timeout.idle_timeout) if timeout else None,
        tcp_idle_timeout_ms=_ms(tcp_timeout.idle_timeout) if tcp_timeout else None,
        # 0 means no limit: Envoy's default
        max_accept_per_socket_event=(connection.max_accept_per_socket_event or None) if connection else None,
        request_received_timeout_ms=_ms(timeout.request_received_timeout) if timeout else None,
        stream_idle_timeout_ms=_ms(timeout.stream_idle_timeout) if timeout else None,
        preserve_header_case=bool(http1.preserve_header_case) if http1 else False,
        http10=http1 is not None and http1.http10 is not None,
        enable_trailers=bool(http1.enable_trailers) if http1 else False,
        http2=http2_settings(spec.http2),
        http3=spec.http3 is not None,
        escaped_slashes_action=path.escaped_slashes_action if path else None,
        merge_slashes=not (path is not None and path.disable_merge_slashes),
        xff_num_trusted_hops=xff.num_trusted_hops if xff else None,
        xff_trusted_cidrs=tuple(xff.trusted_cidrs) if xff else (),
        custom_client_ip_header=detection.custom_header.name if detection and detection.custom_header else None,
        early_request_headers=_header_modifier(headers.early_request_headers) if headers else None,
        late_response_headers=_header_modifier(headers.late_response_headers) if headers else None,
        enable_envoy_headers=bool(headers.enable_envoy_headers) if headers else False,
        xfcc_mode=xfcc_mode,
        xfcc_cert_details=xfcc_details,
        with_underscores_action=headers.with_underscores_action if headers else None,
        preserve_request_id=bool(headers.preserve_x_request_id) if headers else False,
        health_check_path=spec.health_check.path if spec.health_check is not None else None,
        rate_limit_headers=not (headers is not None and headers.disable_rate_limit_headers),
    )
    tls = None
    if spec.tls is not None:
        ca, _ = read_ca_bundle(reader, _ca_refs(policy, spec))
        validation = spec.tls.client_validation
        tls = ir.TLSConfig(
            min_version=spec.tls.min_version if spec.tls.min_version != "Auto" else None,
            max_version=spec.tls.max_version if spec.tls.max_version != "Auto" else None,
            ciphers=spec.tls.ciphers,
            ecdh_curves=spec.tls.ecdh_curves,
            signature_algorithms=spec.tls.signature_algorithms,
            alpn_protocols=spec.tls.alpn_protocols or None,
            client_ca=ca,
            client_optional=bool(validation.optional) if validation is not None else False,
            session_resumption=_session_resumption(spec.tls),
        )
    return ListenerClient(settings=settings, tls=tls)


def gateway_clients(reader: Reader, gateway: GatewayContext) -> dict[str, ListenerClient]:
    """The client settings of each listener of `gateway` that a ClientTrafficPolicy reaches and can apply to."""
    policies = gateway_policies(reader, CTP, gateway.key)
    found: dict[str, ListenerClient] = {}
    for listener in gateway.listeners:
        for policy in policies.candidates(listener.name):  # the most specific that can target the listener
            section = listener.name if policy is policies.listeners.get(listener.name) else None
            if check_client_traffic_target(policy, gateway, section):
                continue
            found[listener.name] = REFUSED if check_client_traffic(reader, policy) else listener_client(reader, policy)
            break
    return found


def with_client(tls: ir.TLSConfig | None, client: ListenerClient | None) -> ir.TLSConfig | None:
    """A listener's TLS config with the policy's TLS settings (the listener keeps its certificates)."""
    if tls is None or client is None or client.tls is None:
        return tls
    return msgspec.structs.replace(client.tls, certificates=tls.certificates)
