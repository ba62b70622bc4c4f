"""TLS Secrets (`kubernetes.io/tls`): the certificate chain and private key a Secret holds, for listeners and
for the client certificate Envoy presents to backends."""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from projections import ir
from projections.resources.core import Secret

TLS_SECRET_TYPE = "kubernetes.io/tls"


def secret_value(secret: Secret, name: str) -> str | None:
    """The text under `name` (`stringData` or base64 `data`), or None."""
    if name in secret.string_data:
        return secret.string_data[name]
    raw = secret.data.get(name)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def tls_certificate(secret: Secret, name: str) -> ir.Certificate | str:
    """The certificate a TLS Secret holds, or why it holds none."""
    if secret.type != TLS_SECRET_TYPE:
        return f"Secret {name} must be of type {TLS_SECRET_TYPE}"
    chain, key = secret_value(secret, "tls.crt"), secret_value(secret, "tls.key")
    if not chain or not key:
        return f"Secret {name} must contain tls.crt and tls.key"
    if "-----BEGIN" not in chain or "-----BEGIN" not in key:
        return f"Secret {name} must hold PEM-encoded tls.crt and tls.key"
    problem = _pair_problem(chain, key)
    if problem is not None:
        return f"Secret {name} must contain a valid tls.crt and tls.key: {problem}"
    return ir.Certificate(name=name, certificate_chain=chain, private_key=key)


def _pair_problem(chain: str, key: str) -> str | None:
    """Why Envoy would refuse this certificate chain and private key (as Envoy Gateway checks them), or None."""
    try:
        certificates = x509.load_pem_x509_certificates(chain.encode())
    except ValueError as exc:
        return f"tls.crt does not hold a certificate ({exc})"
    try:
        private_key = serialization.load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"tls.key does not hold an unencrypted private key ({exc})"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    try:  # a certificate's key is read only now: its algorithm may be one nobody knows
        certified = certificates[0].public_key().public_bytes(serialization.Encoding.DER, spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"tls.crt holds a key that cannot be read ({exc})"
    if certified != private_key.public_key().public_bytes(serialization.Encoding.DER, spki):
        return "the private key is not the certificate's"
    return None
