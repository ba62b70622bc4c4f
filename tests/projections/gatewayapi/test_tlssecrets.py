"""TLS Secrets are checked as Envoy Gateway checks them: a certificate chain and an unencrypted private key that
parse, the key being the certificate's. Envoy refuses anything else (a NACK), so the listener must say so."""

from __future__ import annotations

import base64
import datetime
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from projections import ir
from projections.gatewayapi.tlssecrets import tls_certificate
from projections.resources.core import Secret
from projections.resources.meta import ObjectMeta


def pem_pair() -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2026, 1, 1))
        .not_valid_after(datetime.datetime(2126, 1, 1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key


def pem_key(key: ec.EllipticCurvePrivateKey, encryption: serialization.KeySerializationEncryption | None = None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    ).decode()


def secret(chain: str, key: str) -> Secret:
    return Secret(
        api_version="v1",
        kind="Secret",
        metadata=ObjectMeta(name="tls", namespace="default"),
        type="kubernetes.io/tls",
        string_data={"tls.crt": chain, "tls.key": key},
    )


def test_a_certificate_and_its_key() -> None:
    chain, key = pem_pair()
    found = tls_certificate(secret(chain, pem_key(key)), "default/tls")
    assert isinstance(found, ir.Certificate)


def with_unknown_key_algorithm(chain: str) -> str:
    """`chain`'s certificate with its key's algorithm (id-ecPublicKey) made one nobody knows: it still parses,
    and fails only when its key is read."""
    der = x509.load_pem_x509_certificate(chain.encode()).public_bytes(serialization.Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # OID 1.2.840.10045.2.1
    at = der.index(ec_public_key)
    der = der[:at] + ec_public_key[:-1] + b"\x63" + der[at + len(ec_public_key) :]
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("which", "problem"),
    [
        ("garbage certificate", "tls.crt does not hold a certificate"),
        ("unknown key algorithm", "tls.crt holds a key that cannot be read"),
        ("another key", "the private key is not the certificate's"),
        ("encrypted key", "tls.key does not hold an unencrypted private key"),
    ],
)
def test_what_envoy_would_refuse_is_named(which: str, problem: str) -> None:
    chain, key = pem_pair()
    key_text = pem_key(key)
    if which == "garbage certificate":
        chain = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    elif which == "unknown key algorithm":  # it raised out of translation, and would have ended the daemon
        chain = with_unknown_key_algorithm(chain)
    elif which == "another key":
        key_text = pem_key(pem_pair()[1])
    else:
        key_text = pem_key(key, serialization.BestAvailableEncryption(b"secret"))
    found = tls_certificate(secret(chain, key_text), "default/tls")
    assert isinstance(found, str)
    assert found.startswith("Secret default/tls must contain a valid tls.crt and tls.key: " + problem)
