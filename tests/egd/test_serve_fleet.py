"""End to end with real Envoys: two Gateways served to two Envoys, and a configuration Envoy rejects (NACK)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from egd.natsserver import pick_free_port
from tests.egd import serving
from tests.egd.daemon import Daemon
from tests.egd.serving import (
    apply_here,
    backend_refs,
    bodies,
    delete,
    gateway_documents,
    http_route,
    metric_values,
    path_match,
    route_document,
    service_documents,
    wait_for,
)
from tests.egd.xds.envoy_process import Envoy, run_envoy


async def dumped(envoy: Envoy) -> dict[str, Any]:
    """What one Envoy holds: listener names and ports, route paths, cluster names."""
    listeners = await envoy.config_dump("dynamic_listeners")
    routes = await envoy.config_dump("dynamic_route_configs")
    clusters = await envoy.config_dump("dynamic_active_clusters")
    return {
        "ports": sorted(
            entry["active_state"]["listener"]["address"]["socket_address"]["port_value"] for entry in listeners
        ),
        "paths": sorted(
            route["match"].get("prefix") or route["match"].get("path_separated_prefix") or str(route["match"])
            for entry in routes
            for host in entry["route_config"].get("virtual_hosts", [])
            for route in host["routes"]
        ),
        "clusters": sorted(entry["cluster"]["name"] for entry in clusters),
    }


async def test_two_gateways_two_envoys_each_sees_only_its_own(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    edge_port, inner_port = pick_free_port(), pick_free_port()
    await apply_here(
        daemon,
        "---".join(
            [
                gateway_documents(edge_port, "edge"),
                gateway_documents(inner_port, "inner", with_class=False),
                service_documents("alpha", backends["alpha"]),
                service_documents("beta", backends["beta"]),
                route_document("alpha", "/edge", name="edge-web", gateway="edge"),
                route_document("beta", "/inner", name="inner-web", gateway="inner"),
            ]
        ),
    )
    async with (
        run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-edge") as edge,
        run_envoy(tmp_path, gateway="default/inner", xds_port=daemon.xds_port, node_id="envoy-inner") as inner,
    ):
        await wait_for(f"http://127.0.0.1:{edge_port}/edge", "alpha /edge")
        await wait_for(f"http://127.0.0.1:{inner_port}/inner", "beta /inner")
        assert await bodies(f"http://127.0.0.1:{edge_port}/inner", 3) == {"404": 3}
        assert await bodies(f"http://127.0.0.1:{inner_port}/edge", 3) == {"404": 3}

        edge_holds, inner_holds = await dumped(edge), await dumped(inner)
        assert edge_holds["ports"] == [edge_port]
        assert inner_holds["ports"] == [inner_port]
        assert "/edge" in edge_holds["paths"] and "/inner" not in edge_holds["paths"]
        assert "/inner" in inner_holds["paths"] and "/edge" not in inner_holds["paths"]
        assert any("alpha" in name for name in edge_holds["clusters"])
        assert not any("beta" in name for name in edge_holds["clusters"])
        assert any("beta" in name for name in inner_holds["clusters"])
        assert not any("alpha" in name for name in inner_holds["clusters"])

        # a change to one Gateway reaches its Envoy only: the other's config does not move
        inner_stats = await inner.admin("/stats?filter=update_attempt")
        await apply_here(
            daemon,
            http_route(
                "edge-web",
                "edge",
                [
                    f"{serving.path_match('/edge')}, {backend_refs({'alpha': 1})}",
                    f"{serving.path_match('/more')}, {backend_refs({'beta': 1})}",
                ],
            ),
        )
        await wait_for(f"http://127.0.0.1:{edge_port}/more", "beta /more")
        assert await bodies(f"http://127.0.0.1:{inner_port}/more", 3) == {"404": 3}
        assert await dumped(inner) == inner_holds
        assert await inner.admin("/stats?filter=update_attempt") == inner_stats

        envoys = json.loads(daemon.http_get("/api/v1/envoys"))
        assert sorted((e["node_id"], e["gateway"]) for e in envoys) == [
            ("envoy-edge", "default/edge"),
            ("envoy-inner", "default/inner"),
        ]


def breaking_patch(port: int) -> str:
    """An EnvoyPatchPolicy that gives the first virtual host (a.example) a route whose regex RE2 refuses: Envoy
    rejects it (egd checks the regexes of routes, not what a raw patch writes)."""
    route = {"match": {"safe_regex": {"regex": "/(?=a)b"}}, "direct_response": {"status": 200}}
    patch = {
        "type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": f"default/edge/http/{port}",
        "operation": {"op": "add", "path": "/virtual_hosts/0/routes/0", "value": route},
    }
    spec = {
        "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"},
        "type": "JSONPatch",
        "jsonPatches": [patch],
    }
    policy = {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyPatchPolicy", "metadata": {"name": "bad"}}
    return json.dumps({**policy, "spec": spec})


async def test_a_rejected_config_is_reported_and_what_envoy_can_take_still_reaches_it(
    backends: dict[str, int], tmp_path: Path
) -> None:
    """Envoy refuses a delta response whole. The VirtualHost it cannot take (a.example) went out with another it
    can (b.example, a new route): egd sends each again alone, so b.example's route is served, a.example keeps its
    last good routes, and the refused version is not sent again until it changes."""
    daemon = Daemon(tmp_path / "egd", "--enable-envoy-patch-policy")
    daemon.start()
    try:
        port = pick_free_port()
        base = f"http://127.0.0.1:{port}"
        a_host, b_host = {"Host": "a.example"}, {"Host": "b.example"}
        ok = f"{path_match('/ok')}, {backend_refs({'alpha': 1})}"
        await apply_here(
            daemon,
            "---".join(
                [
                    gateway_documents(port),
                    service_documents("alpha", backends["alpha"]),
                    service_documents("beta", backends["beta"]),
                    http_route("on-a", "edge", [ok], hostnames=["a.example"]),
                    http_route("on-b", "edge", [ok], hostnames=["b.example"]),
                ]
            ),
        )
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1") as envoy:
            await wait_for(f"{base}/ok", "alpha /ok", headers=a_host)
            await wait_for(f"{base}/ok", "alpha /ok", headers=b_host)

            new_on_b = http_route(
                "new-on-b", "edge", [f"{path_match('/new')}, {backend_refs({'beta': 1})}"], ["b.example"]
            )
            await apply_here(daemon, breaking_patch(port) + "\n---" + new_on_b)

            # b.example's new route reaches Envoy although it went out first with a.example's refused VirtualHost
            await wait_for(f"{base}/new", "beta /new", headers=b_host)
            (reported,) = json.loads(daemon.http_get("/api/v1/envoys"))
            assert [n["type_url"].rsplit(".", 1)[-1] for n in reported["recent_nacks"]] == ["VirtualHost"] * 2
            assert all("invalid perl operator: (?=" in n["message"] for n in reported["recent_nacks"])  # RE2's why
            nacks = metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total")
            assert nacks == {'type="VirtualHost"': 2.0}, nacks  # the pair, then a.example alone
            stats = await envoy.admin("/stats?filter=update_rejected")
            assert any(line.endswith(": 2") for line in stats.splitlines()), stats

            # a.example keeps its last good routes; the refused version is not sent again and again
            assert await bodies(f"{base}/ok", 10, a_host) == {"alpha /ok": 10}
            await asyncio.sleep(0.5)
            assert metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total") == nacks

            # without the patch, a.example's next version is accepted
            await delete(daemon, "envoypatchpolicy", "bad")
            await apply_here(
                daemon,
                http_route("new-on-a", "edge", [f"{path_match('/new')}, {backend_refs({'beta': 1})}"], ["a.example"]),
            )
            await wait_for(f"{base}/new", "beta /new", headers=a_host)
            assert await bodies(f"{base}/ok", 5, a_host) == {"alpha /ok": 5}
            assert metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total") == nacks
    finally:
        assert daemon.stop() == 0, daemon.log()
