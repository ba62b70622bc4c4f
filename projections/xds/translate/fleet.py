"""Every node group's xDS: one `XdsTranslator` per Gateway (`<namespace>/<name>`, the Envoys' `node.cluster`)."""

from __future__ import annotations

import msgspec

from projections import ir
from projections.xds.resources import ResourceSet, diff
from projections.xds.translate.ratelimits import XdsSettings
from projections.xds.translate.routeconfigs import RouteRecords
from projections.xds.translate.translator import XdsTranslator, XdsUpdate


class XdsBuildError(Exception):
    """A Gateway's IR could not be built into Envoy resources: a defect, or an input that validation let through.
    Its Envoys keep what they were last served; the next build of it starts afresh."""

    def __init__(self, gateway: str, cause: Exception) -> None:
        super().__init__(f"cannot build the xDS resources of Gateway {gateway}: {type(cause).__name__}: {cause}")
        self.gateway = gateway


class XdsFleet:
    def __init__(self, settings: XdsSettings | None = None) -> None:
        self.settings = settings or XdsSettings()
        self._translators: dict[str, XdsTranslator] = {}
        self._route_records = RouteRecords()  # a route attached to several Gateways is serialised once
        # Gateway -> what its Envoys were last served, while its builds fail (see `apply`)
        self._served_before_failure: dict[str, ResourceSet] = {}

    def apply(self, gateway: ir.GatewayIR) -> XdsUpdate:
        """The new resources of `gateway.name` (publish them under that key) and what changed. Raises
        XdsBuildError when they cannot be built: what was served stays the last update."""
        translator = self._translators.get(gateway.name)
        if translator is None:
            translator = self._translators[gateway.name] = XdsTranslator(self.settings, self._route_records)
        try:
            update = translator.apply(gateway)
        except Exception as exc:
            # the translator's caches may be half updated: the next build starts from none, and what it makes is
            # compared with what the Envoys were last served
            self._served_before_failure.setdefault(gateway.name, translator.resources)
            del self._translators[gateway.name]
            raise XdsBuildError(gateway.name, exc) from exc
        served = self._served_before_failure.pop(gateway.name, None)
        if served is None:
            return update
        return msgspec.structs.replace(
            update,
            changes=diff(served, update.resources),
            delta_changes=diff(served.delta_view(), update.resources.delta_view()),
        )

    def remove(self, gateway: str) -> XdsUpdate:
        """The Gateway is gone: its node group is served nothing (every resource removed); caches dropped."""
        translator = self._translators.pop(gateway, None)
        previous = self._served_before_failure.pop(gateway, None)
        if previous is None:
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
        """What the Gateway's Envoys are served (the last update built)."""
        served = self._served_before_failure.get(gateway)
        if served is not None:
            return served
        translator = self._translators.get(gateway)
        return translator.resources if translator is not None else None
