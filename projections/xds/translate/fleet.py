"""Every node group's xDS: one `XdsTranslator` per Gateway (`<namespace>/<name>`, the Envoys' `node.cluster`)."""

from __future__ import annotations

from projections import ir
from projections.xds.resources import ResourceSet, diff
from projections.xds.translate.translator import XdsTranslator, XdsUpdate


class XdsFleet:
    def __init__(self) -> None:
        self._translators: dict[str, XdsTranslator] = {}

    def apply(self, gateway: ir.GatewayIR) -> XdsUpdate:
        """The new resources of `gateway.name` (publish them under that key) and what changed."""
        return self._translators.setdefault(gateway.name, XdsTranslator()).apply(gateway)

    def remove(self, gateway: str) -> XdsUpdate:
        """The Gateway is gone: its node group is served nothing (every resource removed); caches dropped."""
        translator = self._translators.pop(gateway, None)
        previous = translator.resources if translator is not None else ResourceSet()
        return XdsUpdate(resources=ResourceSet(), changes=diff(previous, ResourceSet()))

    def resources(self, gateway: str) -> ResourceSet | None:
        translator = self._translators.get(gateway)
        return translator.resources if translator is not None else None
