"""Envoy Gateway kinds (gateway.envoyproxy.io/v1alpha1)."""

from __future__ import annotations

from projections.resources.registry import KindInfo

KINDS: list[KindInfo] = []
