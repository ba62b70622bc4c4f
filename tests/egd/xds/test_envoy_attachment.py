"""End to end with a real Envoy: a BackendTrafficPolicy on one named rule of an HTTPRoute (`sectionName`)
changes that rule only, and a route's policy with `mergeType: JSONMerge` is merged onto its listener's policy
(the listener's request timeout kept, the route's retries added) where one without it replaces the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from egd.natsserver import pick_free_port
from tests.egd.serving import PolicyBackend, fetch_json, policy_backends, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    GATEWAY,
    GATEWAY_API_GROUP,
    GW_API,
    NAMESPACE,
    GatewayFeed,
    backend_traffic_policy,
    eg_backend,
    gateway,
    http_listener,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, PolicyBackend]]:
    async with policy_backends("one") as found:
        yield found


def _prefix(path: str) -> dict[str, Any]:
    return {"path": {"type": "PathPrefix", "value": path}}


def _route(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A route to backend `one` for host `<name>.test`."""
    ref = {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "one-only"}
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "hostnames": [f"{name}.test"],
            "rules": [{**rule, "backendRefs": [ref]} for rule in rules],
        },
    }


def _on_rule(policy: dict[str, Any], rule: str) -> dict[str, Any]:
    policy["spec"]["targetRefs"][0]["sectionName"] = rule
    return policy


async def test_rule_policies_and_merged_policies_through_real_envoy(
    server: Server, recorded: Recorded, backends: dict[str, PolicyBackend], tmp_path: Path
) -> None:
    one = backends["one"]
    port = pick_free_port()
    listener_policy = backend_traffic_policy("listener", "unused", timeout={"http": {"requestTimeout": "300ms"}})
    listener_policy["spec"]["targetRefs"] = [
        {"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": GATEWAY, "sectionName": "http"}
    ]
    route_settings = {
        "retry": {"numRetries": 3, "retryOn": {"httpStatusCodes": [503]}},
        "timeout": {"tcp": {"connectTimeout": "5s"}},
    }
    documents = [
        *gateway([http_listener(port)]),
        eg_backend("one-only", one.port),
        _route("shop", [{"name": "cart", "matches": [_prefix("/cart")]}, {"matches": [_prefix("/shop")]}]),
        _route("merged", [{"matches": [_prefix("/flaky"), _prefix("/slow")]}]),
        _route("replaced", [{"matches": [_prefix("/flaky"), _prefix("/slow")]}]),
        _on_rule(backend_traffic_policy("cart-fault", "shop", faultInjection={"abort": {"httpStatus": 418}}), "cart"),
        listener_policy,
        backend_traffic_policy("merged", "merged", mergeType="JSONMerge", **route_settings),
        backend_traffic_policy("replaced", "replaced", **route_settings),
    ]
    GatewayFeed(server.bus).publish(documents)
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="attachment"),
        aiohttp.ClientSession() as session,
    ):

        def host(name: str) -> dict[str, Any]:
            return {"headers": {"host": f"{name}.test"}}

        await until_served(session, f"{base}/shop", **host("shop"))
        assert recorded.nacks == []

        # the rule's policy: its path aborts, the route's other rule is untouched
        assert (await fetch_json(session, f"{base}/cart", **host("shop")))[0] == 418
        assert "/cart" not in one.hits
        assert (await fetch_json(session, f"{base}/shop/x", **host("shop")))[0] == 200

        # merged onto the listener's policy: the route's retries, and the listener's 300 ms request timeout
        assert (await fetch_json(session, f"{base}/flaky/a", **host("merged")))[0] == 200
        assert one.hits["/flaky/a"] == 3
        assert (await fetch_json(session, f"{base}/slow", **host("merged")))[0] == 504

        # not merged: the route's `timeout` replaces the listener's, so the 1 s backend answers
        assert (await fetch_json(session, f"{base}/flaky/b", **host("replaced")))[0] == 200
        assert one.hits["/flaky/b"] == 3
        assert (await fetch_json(session, f"{base}/slow", **host("replaced")))[0] == 200
        assert recorded.nacks == []
