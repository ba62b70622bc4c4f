"""References from Envoy Gateway objects to Secrets, ConfigMaps and backends."""

from __future__ import annotations

from typing import Annotated

import msgspec

from projections.resources.meta import K8sModel
from projections.resources.quantities import Port

Weight = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class SecretObjectReference(K8sModel, frozen=True, kw_only=True):
    """A Secret (or another kind named by group/kind), by default in the referring object's namespace."""

    name: str
    group: str = ""
    kind: str = "Secret"
    namespace: str | None = None


class LocalObjectReference(K8sModel, frozen=True, kw_only=True):
    """An object in the referring object's namespace."""

    name: str
    group: str = ""
    kind: str


class BackendRef(K8sModel, frozen=True, kw_only=True):
    """A Service (default) or Envoy Gateway `Backend` that a policy sends traffic to (auth servers, JWKS...)."""

    name: str
    group: str = ""
    kind: str = "Service"
    namespace: str | None = None
    port: Port | None = None
    weight: Weight = 1
    fallback: bool | None = None


class BackendCluster(K8sModel, frozen=True, kw_only=True):
    """The backends of an auxiliary service (ext auth, remote JWKS, OIDC provider...).

    `backend_settings` is Envoy Gateway's ClusterSettings; kept untyped until translation reads it.
    """

    backend_ref: BackendRef | None = None  # deprecated in favour of backend_refs
    backend_refs: tuple[BackendRef, ...] = ()
    backend_settings: dict[str, object] | None = None

    @property
    def all_backend_refs(self) -> tuple[BackendRef, ...]:
        return (self.backend_ref,) if self.backend_ref is not None else self.backend_refs
