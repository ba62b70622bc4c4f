"""The descriptor projection: rl configs per Gateway domain from the IR, matching what Envoy's actions send,
incremental like the xDS projection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import ir
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import Deleted, Translator, translate
from projections.ratelimit.config import Unit, to_proto
from projections.ratelimit.descriptors import RateLimitProjection, project, rule_entries
from projections.ratelimit.matching import Limited, NoRule, RateLimitIndex, RequestDescriptor, plan_request
from tests.projections.gatewayapi.universe import SLOTS, resource

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def gateways_of(path: Path) -> dict[str, ir.GatewayIR]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return translate(resources_from_documents([(d, f"document {i}") for i, d in enumerate(documents)])).gateways


def routes(gateway: ir.GatewayIR) -> list[ir.HTTPRoute]:
    return [r for x in gateway.http for v in x.virtual_hosts for r in v.routes]


def request_for(route: ir.HTTPRoute, rule: ir.RateLimitRule, values: dict[str, str]) -> RequestDescriptor:
    """The descriptor Envoy sends for `rule` when every action produces an entry: the plan's entries, with
    the request's values for the distinct ones."""
    assert route.rate_limit is not None
    entries = rule_entries(route, route.rate_limit, rule)
    return RequestDescriptor(entries=tuple((e.key, e.value if e.value is not None else values[e.key]) for e in entries))


def test_every_rule_of_every_route_finds_its_own_limit() -> None:
    gateways = gateways_of(TESTDATA / "xds" / "ratelimit-global.in.yaml")
    configs = project(gateways)
    assert list(configs) == ["default/gw"]
    index = RateLimitIndex(configs.values())
    limited = [r for r in routes(gateways["default/gw"]) if r.rate_limit is not None]
    assert len(limited) == 1
    route = limited[0]
    assert route.rate_limit is not None
    values = {"header-0": "alice", "remote_address": "10.1.2.3"}
    for rule in route.rate_limit.rules:
        planned = plan_request(index, "default/gw", [request_for(route, rule, values)], now=0)
        assert isinstance(planned[0], Limited), rule
        assert planned[0].rule.requests_per_unit == rule.requests
        assert planned[0].rule.unit is Unit[rule.unit.upper()]
        assert planned[0].rule.shadow_mode == rule.shadow_mode


def test_distinct_values_get_their_own_counters_and_a_missing_entry_matches_nothing() -> None:
    gateways = gateways_of(TESTDATA / "xds" / "ratelimit-global.in.yaml")
    index = RateLimitIndex(project(gateways).values())
    route = next(r for r in routes(gateways["default/gw"]) if r.rate_limit is not None)
    assert route.rate_limit is not None
    rule = route.rate_limit.rules[1]
    alice = request_for(route, rule, {"header-0": "alice", "remote_address": "10.1.2.3"})
    bob = request_for(route, rule, {"header-0": "bob", "remote_address": "10.1.2.3"})
    keys = [plan_request(index, "default/gw", [d], now=0)[0] for d in (alice, bob)]
    assert all(isinstance(k, Limited) for k in keys)
    assert len({k.cache_key for k in keys if isinstance(k, Limited)}) == 2
    # Envoy sends no descriptor at all when an action has no entry; a shorter one is not at the rule's depth
    truncated = RequestDescriptor(entries=alice.entries[:-1])
    assert isinstance(plan_request(index, "default/gw", [truncated], now=0)[0], NoRule)


def test_configs_convert_to_protobuf_and_yaml_that_rl_accepts() -> None:
    configs = project(gateways_of(TESTDATA / "translate" / "btp-listener-selectors-conflicts.in.yaml"))
    (config,) = configs.values()
    assert to_proto(config).domain == "default/gw"
    keys = [d.key for d in config.descriptors]
    assert "shared" in keys  # a shared rule is keyed by its policy, once for every route


def _policy(requests: int, target: str = "limited") -> dict[str, Any]:
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": f"p-{target}", "namespace": "default"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": target}],
            "rateLimit": {"type": "Global", "global": {"rules": [{"limit": {"requests": requests, "unit": "Minute"}}]}},
        },
    }


def test_a_policy_change_touches_only_its_own_descriptors() -> None:
    documents = [d for d in yaml.safe_load_all((TESTDATA / "xds" / "ratelimit-global.in.yaml").read_text()) if d]
    documents.append(_policy(5, "free"))
    translator = Translator()
    translator.apply(resources_from_documents([(d, "doc") for d in documents]))
    projection = RateLimitProjection()
    projection.apply(translator.gateways["default/gw"])
    before = {d.value: d for d in projection.configs["default/gw"].descriptors}
    translator.apply(resources_from_documents([(_policy(9, "free"), "changed")]))
    assert projection.apply(translator.gateways["default/gw"])
    after = {d.value: d for d in projection.configs["default/gw"].descriptors}
    changed = {value for value in before if before[value] is not after.get(value)}
    assert changed == {"default/p-free/rule-0"}
    assert after["default/p-free/rule-0"].rate_limit is not None
    assert after["default/p-free/rule-0"].rate_limit.requests_per_unit == 9


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SLOTS) - 1), st.integers(-1, 4)), min_size=1, max_size=30))
def test_incremental_equals_from_scratch(sequence: list[tuple[int, int]]) -> None:
    translator = Translator()
    translator.apply([resource(slot, 0) for slot in range(len(SLOTS))])
    projection = RateLimitProjection()
    for gateway in translator.gateways.values():
        projection.apply(gateway)
    for slot, variant in sequence:
        change = Deleted(key=resource(slot, 0).key) if variant < 0 else resource(slot, variant)
        changes = translator.apply([change])
        for name in changes.gateways_removed:
            projection.remove(name)
        for name in changes.gateways:
            gateway = translator.gateway(name)
            assert gateway is not None
            projection.apply(gateway)
        assert msgspec.to_builtins(projection.configs) == msgspec.to_builtins(project(translator.gateways))
