"""The xDS publisher when one Gateway cannot be built: the others are published, that one's Envoys keep what
they had, the failure is counted and logged, and nothing is raised (it once ended the daemon, and every restart
after it, since the event that caused it stays in the log)."""

from __future__ import annotations

import msgspec
import structlog

from egd.bus import LatestValues
from egd.metrics import Metrics
from egd.xds.publisher import XdsPublisher
from projections import ir
from projections.xds.resources import ResourceSet
from projections.xds.translate import build_resource_set


class Gateways:
    """What the publisher reads of the pipeline: the translated IR of each Gateway."""

    def __init__(self, *gateways: ir.GatewayIR) -> None:
        self.irs = {g.name: g for g in gateways}
        self.translated_seq = 7

    def gateway(self, name: str) -> ir.GatewayIR | None:
        return self.irs.get(name)

    @property
    def translator(self) -> Gateways:
        return self


def gateway(name: str, port: int) -> ir.GatewayIR:
    listener = ir.HTTPListener(name=f"{name}/http", address="0.0.0.0", port=port)
    return ir.hashed(ir.GatewayIR(name=name, http=(listener,)))


def test_one_gateway_that_cannot_be_built_stops_nothing_else() -> None:
    bus: LatestValues[str, ResourceSet] = LatestValues()
    metrics = Metrics()
    publisher = XdsPublisher(bus, metrics)
    good_a, good_b = gateway("default/a", 8080), gateway("default/b", 8081)
    publisher.publish(Gateways(good_a, good_b), ["default/a", "default/b"])  # type: ignore[arg-type]
    assert bus.get("default/a") == build_resource_set(good_a)

    broken_a = msgspec.structs.replace(good_a, http=(msgspec.structs.replace(good_a.http[0], port=-5),))
    changed_b = gateway("default/b", 9090)
    with structlog.testing.capture_logs() as logs:
        publisher.publish(Gateways(broken_a, changed_b), ["default/a", "default/b"])  # type: ignore[arg-type]

    assert bus.get("default/a") == build_resource_set(good_a)  # its Envoys keep what they had
    assert bus.get("default/b") == build_resource_set(changed_b)  # the other Gateway went on
    assert publisher.published_seq == {"default/a": 7, "default/b": 7}
    assert metrics.registry.get_sample_value("egd_xds_build_failures_total", {"gateway": "default/a"}) == 1
    [failure] = [entry for entry in logs if entry["log_level"] == "error"]
    assert failure["gateway"] == "default/a"
    assert "Gateway default/a: ValueError" in failure["error"]

    publisher.publish(Gateways(good_a, changed_b), ["default/a"])  # type: ignore[arg-type]
    assert bus.get("default/a") == build_resource_set(good_a)
