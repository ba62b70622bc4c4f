"""EnvoyPatchPolicy: JSON patches applied to the generated xDS resources of a Gateway (off unless enabled)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import LocalPolicyTargetReference

XDSTypeURL = Literal[
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
]


class JSONPatchOperation(K8sModel, frozen=True, kw_only=True):
    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str | None = None
    json_path: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    value: Any = None

    def __post_init__(self) -> None:
        if self.path is None and self.json_path is None:
            raise ValueError("a patch operation needs path or jsonPath")
        if self.op in ("move", "copy") and self.from_ is None:
            raise ValueError(f"a {self.op} operation needs from")


class EnvoyJSONPatchConfig(K8sModel, frozen=True, kw_only=True):
    type: XDSTypeURL
    name: str
    operation: JSONPatchOperation


class EnvoyPatchPolicySpec(K8sModel, frozen=True, kw_only=True):
    target_ref: LocalPolicyTargetReference
    type: Literal["JSONPatch"]
    json_patches: tuple[EnvoyJSONPatchConfig, ...] = msgspec.field(default=(), name="jsonPatches")
    priority: int = 0


class EnvoyPatchPolicy(K8sObject, frozen=True, kw_only=True):
    spec: EnvoyPatchPolicySpec
