"""GatewayClass acceptance and Gateway translation up to its listeners (routes attach later).

A Gateway is ours when its GatewayClass names our controller. Its listeners are validated one by one (an
invalid listener never takes the others down) and checked for conflicts on a shared port.
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.addresses import is_ip_address
from projections.gatewayapi.envoyproxy import (
    class_parameters,
    gateway_backend_tls,
    gateway_parameters,
    gateway_telemetry,
)
from projections.gatewayapi.grants import reference_permitted
from projections.gatewayapi.inputs import Reader
from projections.gatewayapi.status import (
    CONTROLLER_NAME,
    Condition,
    GatewayClassStatus,
    GroupKind,
    condition,
)
from projections.gatewayapi.tlssecrets import tls_certificate
from projections.resources.core import Secret
from projections.resources.gatewayapi import (
    GROUP,
    Gateway,
    GatewayClass,
    Listener,
)
from projections.resources.meta import LabelSelector

DEFAULT_ADDRESS = "0.0.0.0"

# Route kinds each listener protocol can carry (TLS: by mode).
ROUTE_KINDS: dict[str, tuple[str, ...]] = {
    "HTTP": ("GRPCRoute", "HTTPRoute"),
    "HTTPS": ("GRPCRoute", "HTTPRoute"),
    "TLS/Passthrough": ("TLSRoute",),
    "TLS/Terminate": ("TCPRoute", "TLSRoute"),
    "TCP": ("TCPRoute",),
    "UDP": ("UDPRoute",),
}
# Listeners sharing a port must agree on how connections are told apart.
_PORT_FAMILY = {"HTTP": "http", "HTTPS": "tls", "TLS": "tls", "TCP": "tcp", "UDP": "udp"}


class ListenerContext(msgspec.Struct, frozen=True, kw_only=True):
    """A listener after validation: what routes need to attach, and its conditions but Programmed."""

    name: str
    protocol: str
    port: int
    hostname: str | None
    tls_mode: str | None
    kinds: tuple[GroupKind, ...]
    namespaces_from: str
    selector: LabelSelector | None
    certificates: tuple[ir.Certificate, ...]
    accepted: bool
    resolved: bool  # its certificates resolved and it supports at least one route kind
    conflicted: bool
    conditions: tuple[Condition, ...]  # Accepted, Conflicted, ResolvedRefs

    @property
    def ready(self) -> bool:
        """Whether the listener is programmed: routes attach only to these."""
        return self.accepted and self.resolved and not self.conflicted


class GatewayContext(msgspec.Struct, frozen=True, kw_only=True):
    key: ResourceKey
    generation: int
    class_name: str
    address_type: str
    addresses: tuple[str, ...]
    accepted: bool
    accepted_condition: Condition
    listeners: tuple[ListenerContext, ...]
    envoy_patches: tuple[ir.EnvoyPatch, ...] = ()  # from EnvoyPatchPolicies, when enabled
    telemetry: ir.Telemetry | None = None  # from the Gateway's EnvoyProxy, else its GatewayClass's
    backend_tls: ir.BackendTLSDefaults | None = None  # likewise

    def listener(self, name: str) -> ListenerContext | None:
        return next((listener for listener in self.listeners if listener.name == name), None)


def gateway_class_status(reader: Reader, key: ResourceKey) -> tuple[GatewayClassStatus, int] | None:
    """Status of a GatewayClass of ours (None when absent or another controller's), with its generation."""
    found = reader.model(key, GatewayClass)
    if found is None or found[1].spec.controller_name != CONTROLLER_NAME:
        return None
    resource, gateway_class = found
    problem = class_parameters(reader, gateway_class)[1]
    if problem is not None:
        accepted = condition("Accepted", False, "InvalidParameters", problem, resource.generation)
    else:
        accepted = condition("Accepted", True, "Accepted", "Valid GatewayClass", resource.generation)
    supported = condition(
        "SupportedVersion", True, "SupportedVersion", "Gateway API CRD version is supported", resource.generation
    )
    return GatewayClassStatus(conditions=(accepted, supported)), resource.generation


def gateway_context(reader: Reader, key: ResourceKey) -> GatewayContext | None:
    """Validate a Gateway of ours and its listeners; None when it is absent or not ours."""
    found = reader.model(key, Gateway)
    if found is None:
        return None
    resource, gateway = found
    class_key = ResourceKey(group=GROUP, kind="GatewayClass", namespace="", name=gateway.spec.gateway_class_name)
    class_status = gateway_class_status(reader, class_key)
    if class_status is None:
        return None
    generation = resource.generation
    class_accepted = class_status[0].conditions[0].status == "True"
    proxy, parameters_problem = gateway_parameters(reader, key.namespace, gateway)
    proxy_namespace = key.namespace
    if proxy is None and parameters_problem is None:
        class_model = reader.model(class_key, GatewayClass)
        proxy = class_parameters(reader, class_model[1])[0] if class_model is not None else None
        class_ref = class_model[1].spec.parameters_ref if class_model is not None else None
        proxy_namespace = (class_ref.namespace if class_ref is not None else None) or ""

    addresses: list[str] = []
    address_problem = None
    for address in gateway.spec.addresses:
        if address.type != "IPAddress":
            address_problem = f"Address type {address.type} is not supported; only IPAddress is"
        elif not is_ip_address(address.value):
            address_problem = f"Address {address.value!r} is not a valid IP address"
        else:
            addresses.append(address.value)
    if len(addresses) > 1 and address_problem is None:
        address_problem = "Only one address per Gateway is supported"
    bind = addresses[0] if addresses and address_problem is None else DEFAULT_ADDRESS

    listeners = _with_conflicts(
        [_listener_context(reader, key, listener, generation) for listener in gateway.spec.listeners], generation
    )
    valid = sum(1 for listener in listeners if listener.accepted)
    if not class_accepted:
        accepted = condition("Accepted", False, "Invalid", "The GatewayClass is not accepted", generation)
    elif parameters_problem is not None:
        accepted = condition("Accepted", False, "InvalidParameters", parameters_problem, generation)
    elif address_problem is not None:
        accepted = condition("Accepted", False, "UnsupportedAddress", address_problem, generation)
    elif valid == 0:
        accepted = condition("Accepted", False, "ListenersNotValid", "The Gateway has no valid listeners", generation)
    elif valid < len(listeners):
        accepted = condition("Accepted", True, "ListenersNotValid", "Some listeners are not valid", generation)
    else:
        accepted = condition("Accepted", True, "Accepted", "The Gateway has been accepted", generation)
    address_type = "IPAddress"
    return GatewayContext(
        key=key,
        generation=generation,
        class_name=gateway.spec.gateway_class_name,
        address_type=address_type,
        addresses=(bind,),
        accepted=accepted.status == "True",
        accepted_condition=accepted,
        listeners=tuple(listeners),
        telemetry=gateway_telemetry(reader, proxy, proxy_namespace, key),
        backend_tls=gateway_backend_tls(reader, proxy, proxy_namespace),
    )


def _listener_context(reader: Reader, gateway: ResourceKey, listener: Listener, generation: int) -> ListenerContext:
    problems: list[tuple[str, str]] = []  # (reason, message) that make the listener not Accepted
    unresolved: list[tuple[str, str]] = []  # (reason, message) for ResolvedRefs
    protocol = listener.protocol
    tls_mode: str | None = None
    certificates: tuple[ir.Certificate, ...] = ()
    if protocol not in _PORT_FAMILY:
        problems.append(("UnsupportedProtocol", f"Protocol {protocol} is not supported"))
    if protocol in ("HTTPS", "TLS"):
        tls_mode = listener.tls.mode if listener.tls is not None else "Terminate"
        if listener.tls is None:
            problems.append(("Invalid", f"Listener must have TLS set when protocol is {protocol}"))
        elif protocol == "HTTPS" and tls_mode != "Terminate":
            problems.append(("UnsupportedValue", f"TLS mode {tls_mode} is not supported on HTTPS listeners"))
        elif tls_mode == "Terminate":
            certificates = _certificates(reader, gateway, listener, unresolved)
    elif listener.tls is not None and protocol in _PORT_FAMILY:
        problems.append(("Invalid", f"Listener must not have TLS set when protocol is {protocol}"))

    family_key = f"TLS/{tls_mode}" if protocol == "TLS" else protocol
    possible = ROUTE_KINDS.get(family_key, ())
    kinds: list[GroupKind] = []
    if listener.allowed_routes.kinds:
        for wanted in listener.allowed_routes.kinds:
            if wanted.group == GROUP and wanted.kind in possible:
                kinds.append(GroupKind(group=GROUP, kind=wanted.kind))
            else:
                unresolved.append(("InvalidRouteKinds", f"Route kind {wanted.group}/{wanted.kind} is not supported"))
    else:
        kinds = [GroupKind(group=GROUP, kind=kind) for kind in possible]
    kinds = sorted(set(kinds), key=lambda gk: gk.kind)
    # A listener with an unsupported kind among supported ones reports it but still carries the others.
    usable = not problems and not any(reason != "InvalidRouteKinds" for reason, _ in unresolved) and bool(kinds)

    namespaces = listener.allowed_routes.namespaces
    if namespaces.from_ not in ("All", "Same", "Selector"):
        problems.append(("UnsupportedValue", f"allowedRoutes.namespaces.from {namespaces.from_} is not supported"))
    elif namespaces.from_ == "Selector" and namespaces.selector is None:
        problems.append(("Invalid", "allowedRoutes.namespaces.selector is required when from is Selector"))

    hostname = listener.hostname if protocol in ("HTTP", "HTTPS", "TLS") else None
    accepted = (
        condition("Accepted", False, problems[0][0], problems[0][1], generation)
        if problems
        else condition("Accepted", True, "Accepted", "Listener has been successfully translated", generation)
    )
    resolved = (
        condition("ResolvedRefs", False, unresolved[0][0], unresolved[0][1], generation)
        if unresolved
        else condition("ResolvedRefs", True, "ResolvedRefs", "Listener has been successfully translated", generation)
    )
    no_conflict = condition("Conflicted", False, "NoConflicts", "No conflicts", generation)
    return ListenerContext(
        name=listener.name,
        protocol=protocol,
        port=listener.port,
        hostname=hostname,
        tls_mode=tls_mode,
        kinds=tuple(kinds),
        namespaces_from=namespaces.from_,
        selector=namespaces.selector,
        certificates=certificates,
        accepted=not problems,
        resolved=usable,
        conflicted=False,
        conditions=(accepted, no_conflict, resolved),
    )


def _certificates(
    reader: Reader, gateway: ResourceKey, listener: Listener, unresolved: list[tuple[str, str]]
) -> tuple[ir.Certificate, ...]:
    assert listener.tls is not None
    if not listener.tls.certificate_refs:
        unresolved.append(("InvalidCertificateRef", "Listener must have at least 1 TLS certificate ref"))
        return ()
    found: list[ir.Certificate] = []
    for ref in listener.tls.certificate_refs:
        namespace = ref.namespace or gateway.namespace
        target = ResourceKey(group=ref.group, kind=ref.kind, namespace=namespace, name=ref.name)
        if (ref.group, ref.kind) != ("", "Secret"):
            unresolved.append(("InvalidCertificateRef", f"Certificate ref to {ref.group}/{ref.kind} is not supported"))
            continue
        if not reference_permitted(reader, gateway, target):
            unresolved.append(
                (
                    "RefNotPermitted",
                    f"Certificate ref to secret {namespace}/{ref.name} not permitted by any ReferenceGrant",
                )
            )
            continue
        secret = reader.model(target, Secret)
        if secret is None:
            unresolved.append(("InvalidCertificateRef", f"Secret {namespace}/{ref.name} does not exist"))
            continue
        certificate = tls_certificate(secret[1], f"{namespace}/{ref.name}")
        if isinstance(certificate, str):
            unresolved.append(("InvalidCertificateRef", certificate))
            continue
        found.append(certificate)
    return tuple(found)


def _with_conflicts(listeners: list[ListenerContext], generation: int) -> list[ListenerContext]:
    """Mark listeners that share a port with an incompatible protocol or the same hostname as Conflicted."""
    by_port: dict[int, list[int]] = defaultdict(list)
    for index, listener in enumerate(listeners):
        if listener.accepted:
            by_port[listener.port].append(index)
    conflicts: dict[int, tuple[str, str]] = {}
    for indexes in by_port.values():
        families = {_PORT_FAMILY[listeners[i].protocol] for i in indexes}
        stream_families = families - {"udp"}
        for i in indexes:
            family = _PORT_FAMILY[listeners[i].protocol]
            if family != "udp" and len(stream_families) > 1:
                conflicts[i] = ("ProtocolConflict", "All listeners for a given port must use a compatible protocol")
        seen: dict[tuple[str, str | None], int] = {}
        for i in indexes:
            if i in conflicts:
                continue
            identity = (_PORT_FAMILY[listeners[i].protocol], listeners[i].hostname)
            if identity in seen:
                message = "All listeners for a given port must use a unique hostname"
                conflicts[i] = ("HostnameConflict", message)
                conflicts[seen[identity]] = ("HostnameConflict", message)
            else:
                seen[identity] = i
    out = []
    for index, listener in enumerate(listeners):
        if index not in conflicts:
            out.append(listener)
            continue
        reason, message = conflicts[index]
        accepted, _, resolved = listener.conditions
        conflicted = condition("Conflicted", True, reason, message, generation)
        out.append(msgspec.structs.replace(listener, conflicted=True, conditions=(accepted, conflicted, resolved)))
    return out
