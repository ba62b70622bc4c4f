"""Every kind egd accepts, gathered from the model modules."""

from __future__ import annotations

from projections.resources import core, envoygateway, gatewayapi
from projections.resources.registry import KindRegistry

REGISTRY = KindRegistry([*gatewayapi.KINDS, *core.KINDS, *envoygateway.KINDS])
