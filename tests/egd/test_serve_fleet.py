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
    eventually,
    gateway_documents,
    http_route,
    metric_values,
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


async def test_a_rejected_config_is_reported_and_the_last_good_one_keeps_serving(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    port = pick_free_port()
    base = f"http://127.0.0.1:{port}"
    await apply_here(
        daemon,
        "---".join(
            [
                gateway_documents(port),
                service_documents("alpha", backends["alpha"]),
                service_documents("beta", backends["beta"]),
                route_document("alpha", "/ok", name="good"),
            ]
        ),
    )
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1") as envoy:
        await wait_for(f"{base}/ok", "alpha /ok")

        # Python's `re` accepts a lookahead; Envoy's RE2 does not: Envoy rejects the VirtualHost (VHDS)
        lookahead = "matches: [{path: {type: RegularExpression, value: '/(?=a)b'}}], " + backend_refs({"beta": 1})
        await apply_here(daemon, http_route("bad", "edge", [lookahead]) + "---" + route_document("beta", "/new", "new"))

        async def nacked() -> bool:
            envoys = json.loads(daemon.http_get("/api/v1/envoys"))
            return bool(envoys and envoys[0]["recent_nacks"])

        await eventually(nacked, within=10, what="the NACK shows in /api/v1/envoys")
        (reported,) = json.loads(daemon.http_get("/api/v1/envoys"))
        nack = reported["recent_nacks"][-1]
        assert nack["type_url"].endswith("VirtualHost")
        assert "invalid perl operator: (?=" in nack["message"], nack  # RE2 says why
        nacks = metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total")
        assert nacks == {'type="VirtualHost"': 1.0}, nacks
        stats = await envoy.admin("/stats?filter=rds.*update_rejected")
        assert any(line.endswith(": 1") for line in stats.splitlines()), stats

        # Envoy keeps its last good routes: /ok still answers, the routes of the rejected version do not exist
        assert await bodies(f"{base}/ok", 20) == {"alpha /ok": 20}
        assert await bodies(f"{base}/new", 3) == {"404": 3}
        # and egd does not resend the rejected version in a loop
        await asyncio.sleep(0.5)
        assert metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total") == nacks

        # fixing the input gets the next version accepted
        await delete(daemon, "httproute", "bad")
        await wait_for(f"{base}/new", "beta /new")
        assert await bodies(f"{base}/ok", 5) == {"alpha /ok": 5}
        assert metric_values(daemon.http_get("/metrics"), "egd_xds_nacks_total") == nacks
