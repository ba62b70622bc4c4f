"""Core Kubernetes kinds egd reads: Service, Secret, ConfigMap (v1) and EndpointSlice (discovery.k8s.io/v1)."""

from __future__ import annotations

from projections.resources.meta import K8sModel, ObjectMeta
from projections.resources.registry import KindInfo


class ConfigMap(K8sModel, frozen=True, kw_only=True):
    api_version: str
    kind: str
    metadata: ObjectMeta
    data: dict[str, str] = {}
    binary_data: dict[str, str] = {}


KINDS = [
    KindInfo(
        group="",
        versions=("v1",),
        kind="ConfigMap",
        plural="configmaps",
        namespaced=True,
        model=ConfigMap,
        short_names=("cm",),
    ),
]
