"""A Gateway whose xDS cannot be built: XdsBuildError, what its Envoys were served stays as it was, and the next
build that succeeds is what a build from scratch makes, with changes counted from what was last served."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import ir
from projections.xds.resources import ResourceSet, diff
from projections.xds.translate import XdsFleet, build_resource_set
from projections.xds.translate.fleet import XdsBuildError
from tests.projections.xds.gateway_ir import gateway_irs


def unbuildable(gateway: ir.GatewayIR) -> ir.GatewayIR | None:
    """`gateway` with a port Envoy's protobuf cannot hold (None when it has no HTTP listener to break)."""
    if not gateway.http:
        return None
    broken = tuple(msgspec.structs.replace(listener, port=-5) for listener in gateway.http)
    return msgspec.structs.replace(gateway, http=broken)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(gateway_irs(), st.booleans()), min_size=1, max_size=5))
def test_a_failed_build_changes_nothing_served(sequence: list[tuple[ir.GatewayIR, bool]]) -> None:
    fleet = XdsFleet()
    served = ResourceSet()
    for gateway, fails in sequence:
        broken = unbuildable(gateway) if fails else None
        if broken is not None:
            with pytest.raises(XdsBuildError, match=f"Gateway {gateway.name}: ValueError"):
                fleet.apply(broken)
            assert fleet.resources(gateway.name) == served
            continue
        update = fleet.apply(gateway)
        assert update.resources == build_resource_set(gateway)
        assert update.changes == diff(served, update.resources)
        assert update.delta_changes == diff(served.delta_view(), update.resources.delta_view())
        served = update.resources
    removed = fleet.remove(sequence[0][0].name)
    assert removed.changes == diff(served, ResourceSet())
