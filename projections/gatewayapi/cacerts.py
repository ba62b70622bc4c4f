"""CA certificates named by policies (BackendTLSPolicy, ClientTrafficPolicy's client validation): the `ca.crt`
key of a ConfigMap or Secret, concatenated into one PEM bundle."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import msgspec

from events.keys import ResourceKey
from projections.gatewayapi.inputs import Reader
from projections.resources.core import ConfigMap, Secret

CA_KEY = "ca.crt"


class CARef(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # ConfigMap, Secret
    name: str
    namespace: str


def read_ca_bundle(reader: Reader, refs: Sequence[CARef]) -> tuple[str | None, tuple[str, ...]]:
    """(PEM bundle of every ref's `ca.crt`, or None; the problems found)."""
    pems: list[str] = []
    problems: list[str] = []
    for ref in refs:
        if ref.kind not in ("ConfigMap", "Secret"):
            problems.append(f"CA certificate ref kind {ref.kind} is not supported (ConfigMap or Secret)")
            continue
        key = ResourceKey(group="", kind=ref.kind, namespace=ref.namespace, name=ref.name)
        resource = reader.get(key)
        pem: str | None = None
        if resource is not None and isinstance(resource.model, ConfigMap):
            pem = resource.model.data.get(CA_KEY)
        elif resource is not None and isinstance(resource.model, Secret):
            secret = resource.model
            if CA_KEY in secret.string_data:
                pem = secret.string_data[CA_KEY]
            elif CA_KEY in secret.data:
                pem = base64.b64decode(secret.data[CA_KEY]).decode("utf-8", errors="replace")
        if resource is None:
            problems.append(f"{ref.kind} {ref.namespace}/{ref.name} not found")
        elif pem is None or "-----BEGIN CERTIFICATE-----" not in pem:
            problems.append(f"{ref.kind} {ref.namespace}/{ref.name} has no PEM certificate under {CA_KEY}")
        else:
            pems.append(pem if pem.endswith("\n") else pem + "\n")
    return ("".join(pems) if pems else None), tuple(problems)
