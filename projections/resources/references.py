"""Gateway API's references from one object to another (gateway.networking.k8s.io/v1), which Envoy Gateway's
kinds reuse: a Secret for TLS, an object in the same namespace, a backend that receives traffic.

A reference without `namespace` names an object in the referring object's namespace; one into another namespace
needs a ReferenceGrant there (checked in translation, not here).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from projections.resources.meta import K8sModel
from projections.resources.quantities import Port

Weight = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
"""A backend's share of traffic, proportional to the sum of its rule's weights; 0 sends it none."""


class SecretObjectReference(K8sModel, frozen=True, kw_only=True):
    """A Secret (or another kind named by group/kind), by default in the referring object's namespace."""

    name: str
    group: str = ""
    kind: str = "Secret"
    namespace: str | None = None


class LocalObjectReference(K8sModel, frozen=True, kw_only=True):
    """An object in the referring object's namespace; `group` is required ("" for the core group)."""

    group: str
    kind: str
    name: str


class BackendRef(K8sModel, frozen=True, kw_only=True):
    """A Service (default) or another backend kind (Envoy Gateway's `Backend`) that receives traffic."""

    name: str
    group: str = ""
    kind: str = "Service"
    namespace: str | None = None
    port: Port | None = None
    weight: Weight = 1
