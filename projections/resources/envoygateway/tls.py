"""TLS settings shared by ClientTrafficPolicy (listeners), Backend and EnvoyProxy (connections to backends)."""

from __future__ import annotations

from typing import Literal

import msgspec

from projections.resources.meta import K8sModel
from projections.resources.references import SecretObjectReference

TLSVersion = Literal["Auto", "1.0", "1.1", "1.2", "1.3"]
ALPNProtocol = Literal["http/1.0", "http/1.1", "h2"]


class TLSSettings(K8sModel, frozen=True, kw_only=True):
    min_version: TLSVersion | None = None
    max_version: TLSVersion | None = None
    ciphers: tuple[str, ...] = ()
    ecdh_curves: tuple[str, ...] = ()
    signature_algorithms: tuple[str, ...] = ()
    alpn_protocols: tuple[ALPNProtocol, ...] = ()


class ClientValidationContext(K8sModel, frozen=True, kw_only=True):
    """mTLS: client certificates must chain to these CA certificates (Secrets or ConfigMaps, key `ca.crt`)."""

    optional: bool = False
    ca_certificate_refs: tuple[SecretObjectReference, ...] = ()


class StatefulTLSSessionResumption(K8sModel, frozen=True, kw_only=True):
    """Session-id based resumption (a session cache in each Envoy)."""


class StatelessTLSSessionResumption(K8sModel, frozen=True, kw_only=True):
    """Session-ticket based resumption (tickets encrypted with keys each Envoy keeps in memory)."""


class SessionResumption(K8sModel, frozen=True, kw_only=True):
    stateless: StatelessTLSSessionResumption | None = None
    stateful: StatefulTLSSessionResumption | None = None


class TLSSession(K8sModel, frozen=True, kw_only=True):
    """TLS session settings: which resumption methods Envoy offers (none unless listed, as in Envoy Gateway)."""

    resumption: SessionResumption | None = None


class ClientTLSSettings(TLSSettings, frozen=True, kw_only=True):
    client_validation: ClientValidationContext | None = None
    session: TLSSession | None = None


class BackendTLSSettings(TLSSettings, frozen=True, kw_only=True):
    """TLS from Envoy to a backend (Backend.spec.tls)."""

    ca_certificate_refs: tuple[SecretObjectReference, ...] = ()
    well_known_ca_certificates: Literal["System"] | None = msgspec.field(default=None, name="wellKnownCACertificates")
    insecure_skip_verify: bool = False
    sni: str | None = None
    client_certificate_ref: SecretObjectReference | None = None
