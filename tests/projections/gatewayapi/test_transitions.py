"""lastTransitionTime is the time of the event that last changed a condition."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.gatewayapi.inputs import Resource
from projections.gatewayapi.translator import Deleted, Translator
from projections.resources.decode import decode_resource

T1 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
T3 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GW = "gateway.networking.k8s.io/v1"


def res(doc: dict, generation: int = 1) -> Resource:
    decoded = decode_resource(doc, "test")
    return Resource(key=decoded.key, model=decoded.model, generation=generation)


CLASS = {
    "apiVersion": GW,
    "kind": "GatewayClass",
    "metadata": {"name": "eg"},
    "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
}
GATEWAY = {
    "apiVersion": GW,
    "kind": "Gateway",
    "metadata": {"name": "g", "namespace": "default"},
    "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
}


def route(service: str) -> dict:
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "g"}], "rules": [{"backendRefs": [{"name": service, "port": 80}]}]},
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "svc", "namespace": "default"},
    "spec": {"ports": [{"port": 80}]},
}


def route_conditions(translator: Translator) -> dict[str, tuple[str, str]]:
    [status] = [s for k, s in translator.statuses.items() if k.kind == "HTTPRoute"]
    return {c.type: (c.status, c.last_transition_time) for c in status.parents[0].conditions}  # type: ignore[union-attr]


def test_a_condition_keeps_its_time_until_it_changes() -> None:
    translator = Translator()
    translator.apply([res(CLASS), res(GATEWAY), res(route("svc"))], at=T1)
    assert route_conditions(translator) == {
        "Accepted": ("True", "2026-01-01T10:00:00Z"),
        "ResolvedRefs": ("False", "2026-01-01T10:00:00Z"),
    }
    changes = translator.apply([res(SERVICE)], at=T2)
    assert any(k.kind == "HTTPRoute" for k in changes.statuses)
    assert route_conditions(translator) == {
        "Accepted": ("True", "2026-01-01T10:00:00Z"),
        "ResolvedRefs": ("True", "2026-01-01T11:00:00Z"),
    }
    # a new generation of the route changes observedGeneration only: no transition
    translator.apply([res(route("svc"), generation=2)], at=T3)
    assert route_conditions(translator)["ResolvedRefs"] == ("True", "2026-01-01T11:00:00Z")


def test_deleting_the_parent_removes_the_route_status() -> None:
    translator = Translator()
    translator.apply([res(CLASS), res(GATEWAY), res(route("svc")), res(SERVICE)], at=T1)
    gateway_key = res(GATEWAY).key
    changes = translator.apply([Deleted(key=gateway_key)], at=T2)
    assert "default/g" in changes.gateways_removed
    assert gateway_key in changes.statuses_removed
    assert not [k for k in translator.statuses if k.kind in ("HTTPRoute", "Gateway")]
    assert translator.gateways == {}
