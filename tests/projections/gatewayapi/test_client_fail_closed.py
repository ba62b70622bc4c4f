"""A ClientTrafficPolicy egd cannot honour makes its listener fail closed, as in Envoy Gateway: with mTLS asked
for and its CA missing, the HTTPS listener's routes answer 500 rather than let clients in without certificates."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate

TESTDATA = Path(__file__).parents[2] / "testdata" / "translate"


def documents(with_ca: bool) -> list[Any]:
    base = [d for d in yaml.safe_load_all((TESTDATA / "gateway-https-certificate.in.yaml").read_text()) if d]
    gateway = [d for d in base if d["kind"] == "Gateway"][-1]  # the file's last version of it: with HTTPS
    policy = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "ClientTrafficPolicy",
        "metadata": {"name": "mtls", "namespace": gateway["metadata"]["namespace"]},
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway["metadata"]["name"]}
            ],
            "tls": {"clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "client-ca"}]}},
        },
    }
    certificate = next(d for d in base if d["kind"] == "Secret")["data"]["tls.crt"]
    ca = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "client-ca", "namespace": gateway["metadata"]["namespace"]},
        "data": {"ca.crt": base64.b64decode(certificate).decode()},
    }
    return [*base, policy, *([ca] if with_ca else [])]


def actions(with_ca: bool) -> list[tuple[bool, int | None]]:
    """(has backends, direct response status) of every route of the HTTPS listener."""
    resources = resources_from_documents((d, f"document {i}") for i, d in enumerate(documents(with_ca)))
    (gateway,) = translate(resources).gateways.values()
    https = [x for x in gateway.http if x.tls is not None]
    assert https
    return [
        (bool(r.backends), r.direct_response.status if r.direct_response else None)
        for x in https
        for v in x.virtual_hosts
        for r in v.routes
    ]


def test_mtls_without_its_ca_answers_500_and_with_it_serves() -> None:
    missing = actions(with_ca=False)
    assert missing and all(found == (False, 500) for found in missing)
    assert all(has_backends for has_backends, _ in actions(with_ca=True))
