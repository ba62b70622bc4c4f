"""BackendTLSPolicy -> the TLS a destination is reached with (`ir.UpstreamTLS`), and what in a policy egd
cannot honour (a missing CA certificate, an option it does not read)."""

from __future__ import annotations

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.cacerts import CARef, read_ca_bundle
from projections.gatewayapi.inputs import Reader, Resource
from projections.gatewayapi.policies import backend_policy
from projections.resources.gatewayapi import BackendTLSPolicy

BACKEND_TLS = "BackendTLSPolicy"


def _ca_refs(policy: Resource, model: BackendTLSPolicy) -> list[CARef]:
    return [
        CARef(kind=ref.kind, name=ref.name, namespace=policy.key.namespace)
        for ref in model.spec.validation.ca_certificate_refs
    ]


def check_backend_tls(reader: Reader, policy: Resource) -> tuple[str, ...]:
    model = policy.model
    if not isinstance(model, BackendTLSPolicy):
        return ()
    validation = model.spec.validation
    problems: list[str] = []
    if validation.well_known_ca_certificates is None and not validation.ca_certificate_refs:
        problems.append("validation needs caCertificateRefs or wellKnownCACertificates")
    if validation.well_known_ca_certificates not in (None, "System"):
        problems.append(f"wellKnownCACertificates {validation.well_known_ca_certificates} is not supported")
    if validation.ca_certificate_refs:
        _, found = read_ca_bundle(reader, _ca_refs(policy, model))
        problems.extend(found)
    if model.spec.options:
        problems.append("options are not supported by egd")
    return tuple(problems)


def upstream_tls(reader: Reader, key: ResourceKey, port_name: str | None) -> ir.UpstreamTLS | None:
    """The TLS of the winning BackendTLSPolicy of the Service (or Backend) at `key` on `port_name`, when it
    can be honoured."""
    policy = backend_policy(reader, BACKEND_TLS, key, port_name)
    if policy is None or not isinstance(policy.model, BackendTLSPolicy) or check_backend_tls(reader, policy):
        return None
    validation = policy.model.spec.validation
    ca, _ = read_ca_bundle(reader, _ca_refs(policy, policy.model)) if validation.ca_certificate_refs else (None, ())
    names = tuple(
        ("URI", n.uri) if n.type == "URI" and n.uri else ("Hostname", n.hostname or "")
        for n in validation.subject_alt_names
    )
    return ir.UpstreamTLS(
        sni=validation.hostname,
        ca_certificate=ca,
        system_ca=ca is None,
        subject_alt_names=names,
        policy=f"{policy.key.namespace}/{policy.key.name}",
    )
