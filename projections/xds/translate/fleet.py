"""Every node group's xDS: one `XdsTranslator` per Gateway (`<namespace>/<name>`, the Envoys' `node.cluster`)."""

from __future__ import annotations

from projections import ir
from projections.xds.resources import ResourceSet, diff
from projections.xds.translate.ratelimits import XdsSettings
from projections.xds.translate.routeconfigs import RouteRecords
from projections.xds.translate.translator import XdsTranslator, XdsUpdate


class XdsFleet:
    def __init__(self, settings: XdsSettings | None = None) -> None:
        self.settings = settings or XdsSettings()
        self._translators: dict[str, XdsTranslator] = {}
        self._route_records = RouteRecords()  # a route attached to several Gateways is serialised once

    def apply(self, gateway: ir.GatewayIR) -> XdsUpdate:
        """The new resources of `gateway.name` (publish them under that key) and what changed."""
        translator = self._translators.get(gateway.name)
        if translator is None:
            translator = self._translators[gateway.name] = XdsTranslator(self.settings, self._route_records)
        return translator.apply(gateway)

    def remove(self, gateway: str) -> XdsUpdate:
        """The Gateway is gone: its node group is served nothing (every resource removed); caches dropped."""
        translator = self._translators.pop(gateway, None)
        previous = translator.resources if translator is not None else ResourceSet()
        return XdsUpdate(
            resources=ResourceSet(),
            changes=diff(previous, ResourceSet()),
            delta_changes=diff(previous.delta_view(), ResourceSet()),
        )

    def patch_outcomes(self) -> dict[str, str | None]:
        """How every Gateway's EnvoyPatchPolicies applied (see `XdsUpdate.patch_outcomes`)."""
        outcomes: dict[str, str | None] = {}
        for translator in self._translators.values():
            outcomes.update(translator.patch_outcomes)
        return outcomes

    def resources(self, gateway: str) -> ResourceSet | None:
        translator = self._translators.get(gateway)
        return translator.resources if translator is not None else None
