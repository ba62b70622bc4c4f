"""Restarting egd under running Envoys (external NATS, so the log outlives the daemon): traffic never stops, and
after they reconnect the Envoys are sent only what changed while egd was away (versions are content hashes,
Envoys report what they hold in `initial_resource_versions`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from egd.commands.apply import delete_resources, make_audit
from egd.natsserver import NatsServerProcess, pick_free_port
from events.keys import ResourceKey
from tests.egd import serving
from tests.egd.daemon import Daemon
from tests.egd.serving import (
    RequestLoop,
    apply_to,
    backend_refs,
    eventually,
    gateway_documents,
    http_route,
    metric_values,
    path_match,
    route_document,
    service_documents,
    wait_for,
)
from tests.egd.xds.envoy_process import Envoy, run_envoy

# Envoy counters that move when it builds a cluster or listener again, or rejects or accepts an update
ENVOY_STATS = (
    "cluster_manager.cluster_added",
    "cluster_manager.cluster_modified",
    "cluster_manager.cluster_removed",
    "listener_manager.listener_added",
    "listener_manager.listener_modified",
    "listener_manager.listener_removed",
    "cluster_manager.cds.update_rejected",
    "listener_manager.lds.update_rejected",
)


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        yield server


async def envoy_stats(envoy: Envoy) -> dict[str, int]:
    text = await envoy.admin("/stats?usedonly&filter=^(cluster_manager|listener_manager|http\\.)")
    values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    stats = {name: int(values.get(name, "0")) for name in ENVOY_STATS}
    # a VHDS update reloads the route configuration too (counted in both rds.X and rds.vhds.X): count it once
    stats["rds.config_reload"] = sum(
        int(v) for k, v in values.items() if k.endswith(".config_reload") and ".vhds." not in k
    )
    stats["rds.update_rejected"] = sum(int(v) for k, v in values.items() if ".rds." in k and k.endswith("rejected"))
    return stats


async def test_restart_under_traffic_resends_only_what_changed(nats: NatsServerProcess, tmp_path: Path) -> None:
    port = pick_free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Daemon(tmp_path / "egd", "--nats-url", nats.url)
    daemon.start()
    try:
        async with serving.backends("alpha", "beta") as ports:
            await apply_to(
                nats.url,
                "---".join(
                    [
                        gateway_documents(port),
                        service_documents("alpha", ports["alpha"]),
                        service_documents("beta", ports["beta"]),
                        route_document("alpha", "/a", name="route-a"),
                        route_document("beta", "/b", name="route-b"),
                    ]
                ),
            )
            async with (
                run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1") as one,
                run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-2") as two,
            ):
                await wait_for(f"{base}/a", "alpha /a")
                await wait_for(f"{base}/b", "beta /b")
                await eventually(lambda: _all_acked(daemon, 2), within=10, what="both Envoys ACK everything")
                before = {"envoy-1": await envoy_stats(one), "envoy-2": await envoy_stats(two)}

                async with RequestLoop([f"{base}/a", f"{base}/b"]) as loop:
                    assert daemon.stop() == 0, daemon.log()
                    # while egd is away, one route changes in the log
                    rules = [
                        f"{path_match('/b')}, {backend_refs({'beta': 1})}",
                        f"{path_match('/c')}, {backend_refs({'beta': 1})}",
                    ]
                    await apply_to(nats.url, http_route("route-b", "edge", rules))
                    served_while_away = loop.ok
                    daemon.start()
                    await eventually(lambda: _all_acked(daemon, 2), within=10, what="both Envoys reconnect and ACK")
                    await wait_for(f"{base}/c", "beta /c")
                assert loop.failures == [], loop.failures[:5]
                assert served_while_away > 0 and loop.ok > served_while_away

                # after reconnecting, each Envoy was sent the changed virtual host (VHDS) and nothing else
                metrics = daemon.http_get("/metrics")
                sent = {k: v for k, v in metric_values(metrics, "egd_xds_resources_sent_total").items() if v}
                assert sent == {'type="VirtualHost",variant="delta"': 2.0}, sent
                removed = {k: v for k, v in metric_values(metrics, "egd_xds_removals_sent_total").items() if v}
                assert removed == {}, removed
                # and rebuilt no cluster or listener, rejected nothing, reloaded its routes once
                for name, envoy in (("envoy-1", one), ("envoy-2", two)):
                    after = await envoy_stats(envoy)
                    assert after["rds.config_reload"] == before[name]["rds.config_reload"] + 1, (name, before, after)
                    assert {k: v for k, v in after.items() if k != "rds.config_reload"} == {
                        k: v for k, v in before[name].items() if k != "rds.config_reload"
                    }, (name, before, after)
                    assert after["rds.update_rejected"] == 0
    finally:
        assert daemon.stop() == 0, daemon.log()


async def _all_acked(daemon: Daemon, count: int) -> bool:
    """`count` Envoys connected, each with every resource egd serves its Gateway ACKed at the current version."""
    status = daemon.http_status("/api/v1/envoys")
    if status != 200:
        return False
    envoys = json.loads(daemon.http_get("/api/v1/envoys"))
    (gateway,) = json.loads(daemon.http_get("/api/v1/xds?gateway=default/edge&variant=delta")) or [None]
    if gateway is None or len(envoys) != count:
        return False
    served = _versions(gateway["resources"])
    return all(envoy["acked_versions"] == served for envoy in envoys)


def _versions(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """type URL -> name -> version, as /api/v1/envoys reports what an Envoy ACKed."""
    versions: dict[str, dict[str, str]] = {}
    for resource in resources:
        versions.setdefault(resource["type_url"], {})[resource["name"]] = resource["version"]
    return versions


async def test_a_gateway_deleted_while_egd_was_away_is_removed_from_its_envoys(
    nats: NatsServerProcess, tmp_path: Path
) -> None:
    """The reconnecting Envoy reports the listener, clusters and routes it holds; egd, caught up, knows their
    Gateway is gone and tells the Envoy to remove them all (before the fix it never answered it, and the Envoy
    went on serving the deleted Gateway)."""
    port = pick_free_port()
    daemon = Daemon(tmp_path / "egd", "--nats-url", nats.url)
    daemon.start()
    try:
        async with serving.backends("alpha") as ports:
            await apply_to(
                nats.url,
                "---".join(
                    [gateway_documents(port), service_documents("alpha", ports["alpha"]), route_document("alpha", "/a")]
                ),
            )
            async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="e") as envoy:
                await wait_for(f"http://127.0.0.1:{port}/a", "alpha /a")
                assert daemon.stop() == 0, daemon.log()
                gateway = ResourceKey(
                    group="gateway.networking.k8s.io", kind="Gateway", namespace="default", name="edge"
                )
                await delete_resources(nats.url, [gateway], make_audit("tests", "", "delete"), ignore_not_found=False)
                daemon.start()

                async def listener_gone() -> bool:
                    stats = await envoy.admin("/stats?filter=^listener_manager.total_listeners_active$")
                    return bool(stats.strip() == "listener_manager.total_listeners_active: 0")

                await eventually(listener_gone, within=15, what="the Envoy removes the deleted Gateway's listener")
                clusters = await envoy.config_dump("dynamic_active_clusters")
                assert clusters == [], clusters
    finally:
        assert daemon.stop() == 0, daemon.log()
