"""Certificate -> Secret (a TLS certificate served over SDS, named `<namespace>/<secret>`)."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

from projections import ir


def build_secret(certificate: ir.Certificate) -> Any:
    return secret_pb2.Secret(
        name=certificate.name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_string=certificate.certificate_chain),
            private_key=base_pb2.DataSource(inline_string=certificate.private_key),
        ),
    )
