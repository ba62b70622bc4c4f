"""Gateway API kinds (gateway.networking.k8s.io v1, v1beta1 and v1alpha2)."""

from __future__ import annotations

from projections.resources.registry import KindInfo

KINDS: list[KindInfo] = []
