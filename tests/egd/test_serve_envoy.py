"""The main job end to end: `egd serve` (embedded NATS) + `egd apply` → real Envoy over delta ADS → real HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from egd.natsserver import pick_free_port
from tests.egd import serving
from tests.egd.daemon import Daemon, egd
from tests.egd.serving import (
    apply,
    apply_here,
    backend_refs,
    bodies,
    gateway_documents,
    http_route,
    path_match,
    route_document,
    service_documents,
    wait_for,
    wait_for_body,
)
from tests.egd.xds.envoy_process import run_envoy


async def test_apply_reaches_envoy_and_traffic_follows_changes(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    listener_port = pick_free_port()
    await apply(
        daemon,
        gateway_documents(listener_port)
        + "---"
        + service_documents("alpha", backends["alpha"])
        + "---"
        + service_documents("beta", backends["beta"])
        + "---"
        + route_document("alpha"),
    )
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1"):
        url = f"http://127.0.0.1:{listener_port}/shop"
        await wait_for_body(url, "alpha /shop")

        await apply(daemon, route_document("beta"))
        await wait_for_body(url, "beta /shop", within=5)

        result = await asyncio.to_thread(egd, "delete", "httproute", "web", "--data-dir", str(daemon.data_dir))
        assert result.returncode == 0, result.stderr
        async with aiohttp.ClientSession() as session:
            for _ in range(500):
                async with session.get(url) as response:
                    if response.status == 404:
                        break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the deleted route still answers")

        envoys = json.loads(daemon.http_get("/api/v1/envoys"))
        assert [(e["node_id"], e["gateway"], e["variant"]) for e in envoys] == [("envoy-1", "default/edge", "delta")]
        assert envoys[0]["recent_nacks"] == []
        acked = envoys[0]["acked_versions"]
        assert any("Listener" in type_url and versions for type_url, versions in acked.items())
        metrics_text = daemon.http_get("/metrics")
        assert 'egd_xds_streams{gateway="default/edge",variant="delta"} 1.0' in metrics_text
        assert "egd_xds_streams_writing 0.0" in metrics_text, "an Envoy that reads its responses is never waited on"
        assert envoys[0]["writing"] is False

    gateway = json.loads(egd("get", "gateway", "edge", "-o", "json", "--data-dir", str(daemon.data_dir)).stdout)
    conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
    assert conditions == {"Accepted": "True", "Programmed": "True"}
    assert gateway["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    metrics = daemon.http_get("/metrics")
    assert "egd_xds_acks_total" in metrics


async def test_status_reports_a_missing_backend(daemon: Daemon) -> None:
    await apply(daemon, gateway_documents(pick_free_port()) + "---" + route_document("nowhere"))
    route = json.loads(
        (
            await asyncio.to_thread(egd, "get", "httproute", "web", "-o", "json", "--data-dir", str(daemon.data_dir))
        ).stdout
    )
    (parent,) = route["status"]["parents"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in parent["conditions"]}
    assert conditions["ResolvedRefs"] == ("False", "BackendNotFound")
    assert conditions["Accepted"] == ("True", "Accepted")
    assert parent["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"


async def test_route_changes_reach_a_running_envoy(daemon: Daemon, backends: dict[str, int], tmp_path: Path) -> None:
    """New path, new header match, redirect, weighted split: each seen through the same Envoy process."""
    listener_port = pick_free_port()
    base = f"http://127.0.0.1:{listener_port}"
    await apply(
        daemon,
        "---".join(
            [
                gateway_documents(listener_port),
                service_documents("alpha", backends["alpha"]),
                service_documents("beta", backends["beta"]),
                route_document("alpha", "/shop"),
            ]
        ),
    )
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1") as envoy:
        started = (await envoy.admin("/server_info"))["uptime_current_epoch"]
        await wait_for(f"{base}/shop/1", "alpha /shop/1")

        # a new path: /store answers, /shop no longer does
        await apply_here(daemon, route_document("alpha", "/store"))
        await wait_for(f"{base}/store/1", "alpha /store/1")
        await wait_for(f"{base}/shop/1", "", status=404)

        # a header match sends matching requests to beta, the others still to alpha
        pick = {"x-pick": "beta"}
        await apply(
            daemon,
            http_route(
                "web",
                "edge",
                [
                    f"{path_match('/store', pick)}, {backend_refs({'beta': 1})}",
                    f"{path_match('/store')}, {backend_refs({'alpha': 1})}",
                ],
            ),
        )
        await wait_for(f"{base}/store/2", "beta /store/2", headers=pick)
        assert await bodies(f"{base}/store/2", 5) == {"alpha /store/2": 5}
        assert await bodies(f"{base}/store/2", 5, headers={"x-pick": "gamma"}) == {"alpha /store/2": 5}

        # a redirect
        redirect = "filters: [{type: RequestRedirect, requestRedirect: {hostname: new.example.com, statusCode: 301}}]"
        await apply(
            daemon,
            http_route(
                "web",
                "edge",
                [f"{path_match('/old')}, {redirect}", f"{path_match('/store')}, {backend_refs({'alpha': 1})}"],
            ),
        )
        await wait_for(f"{base}/old/page", "", status=301)
        async with aiohttp.ClientSession() as session:
            _, _, headers = await serving.answer(session, f"{base}/old/page")
        location = headers["Location"]
        assert location.startswith("http://new.example.com") and location.endswith("/old/page"), location

        # a weighted split: both answer; re-weighted to beta alone, only beta answers
        await apply(
            daemon, http_route("web", "edge", [f"{path_match('/split')}, {backend_refs({'alpha': 1, 'beta': 1})}"])
        )
        await wait_for(f"{base}/split", "beta /split")
        await wait_for(f"{base}/split", "alpha /split")
        await apply(
            daemon, http_route("web", "edge", [f"{path_match('/split')}, {backend_refs({'alpha': 0, 'beta': 1})}"])
        )
        await wait_for(f"{base}/split", "beta /split")
        for _ in range(100):  # until the old split is gone (each of 20 in a row from beta)
            if await bodies(f"{base}/split", 20) == {"beta /split": 20}:
                break
        else:
            raise AssertionError("alpha still answers after being weighted 0")
        assert (await bodies(f"{base}/old/page", 1)) == {"404": 1}

        # the same Envoy all along: no restart, no hot restart
        info = await envoy.admin("/server_info")
        assert info["command_line_options"]["restart_epoch"] == 0
        assert info["uptime_current_epoch"] >= started
        stats = await envoy.admin("/stats?filter=rds.*update_rejected")
        assert all(line.endswith(": 0") for line in stats.splitlines() if line), stats


async def test_traffic_follows_endpoints_scaling_up_and_down(daemon: Daemon, tmp_path: Path) -> None:
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    listener_port = pick_free_port()
    url = f"http://127.0.0.1:{listener_port}/"
    async with serving.backends_on_one_port(hosts) as port:
        await apply(
            daemon,
            "---".join(
                [gateway_documents(listener_port), service_documents("pool", port, hosts[:1]), route_document("pool")]
            ),
        )
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1"):
            await wait_for(url, "127.0.0.1 /")
            assert await bodies(url, 12) == {"127.0.0.1 /": 12}

            # 1 -> 3 ready endpoints: round robin reaches all three
            await apply_here(daemon, service_documents("pool", port, hosts))
            for host in hosts:
                await wait_for(url, f"{host} /")
            assert set(await bodies(url, 30)) == {f"{host} /" for host in hosts}

            # 3 -> 1: two endpoints stay listed but not ready; only the ready one answers
            await apply_here(daemon, service_documents("pool", port, hosts[2:] + hosts[:2], ready=1))
            for _ in range(100):
                if await bodies(url, 15) == {"127.0.0.3 /": 15}:
                    break
            else:
                raise AssertionError("endpoints that are no longer ready still get traffic")
