"""`egd serve` → a real Envoy 1.40 on state-of-the-world ADS (`api_type: GRPC`, what older control-plane clients
speak) → real HTTP: changes reach it, and a route configuration it refuses holds back no other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from egd.natsserver import pick_free_port
from projections.xds.bootstrap import XdsAddress, build_bootstrap
from tests.egd import serving
from tests.egd.daemon import Daemon
from tests.egd.serving import (
    apply_here,
    delete,
    gateway_documents,
    route_document,
    service_documents,
    wait_for,
)
from tests.egd.xds.envoy_process import Envoy, run_envoy


@asynccontextmanager
async def sotw_envoy(tmp_path: Path, daemon: Daemon) -> AsyncIterator[Envoy]:
    """An Envoy of `default/edge` with the bootstrap `egd bootstrap` prints, switched to state-of-the-world ADS."""
    gateway = "default/edge"
    bootstrap: dict[str, Any] = build_bootstrap(
        gateway=gateway,
        xds_addresses=[XdsAddress(host="127.0.0.1", port=daemon.xds_port)],
        admin_port=pick_free_port(),
        node_id="sotw",
    )
    bootstrap["dynamic_resources"]["ads_config"]["api_type"] = "GRPC"
    async with run_envoy(tmp_path, gateway=gateway, xds_port=daemon.xds_port, node_id="sotw", bootstrap=bootstrap) as e:
        yield e


async def test_changes_reach_a_state_of_the_world_envoy(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    port = pick_free_port()
    await apply_here(
        daemon,
        "---".join(
            [
                gateway_documents(port),
                service_documents("alpha", backends["alpha"]),
                service_documents("beta", backends["beta"]),
                route_document("alpha"),
            ]
        ),
    )
    async with sotw_envoy(tmp_path, daemon):
        url = f"http://127.0.0.1:{port}/shop"
        await wait_for(url, "alpha /shop")
        await apply_here(daemon, route_document("beta"))
        await wait_for(url, "beta /shop")
        await delete(daemon, "httproute", "web")
        await wait_for(url, "", status=404)


@pytest.fixture
def patching_daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path / "egd", "--enable-envoy-patch-policy")
    running.start()
    yield running
    assert running.stop() == 0, running.log()


async def test_a_route_configuration_envoy_refuses_holds_back_no_other(patching_daemon: Daemon, tmp_path: Path) -> None:
    """An EnvoyPatchPolicy puts a regex Envoy refuses into listener a's route configuration; a new route on
    listener b then still reaches the Envoy. (Sent with every change, as every subscribed route configuration
    was, the refused one held back every change: Envoy applies a response watch by watch, the newest first,
    and stops at the first it refuses. Listener a's is made the newest: its name sorts last.)"""
    daemon = patching_daemon
    port_b, port_a = sorted([pick_free_port(), pick_free_port()], key=lambda p: f"default/edge/tcp/127.0.0.1/{p}")
    async with serving.backends("one", "two") as ports:
        listeners = f"[{{name: a, protocol: HTTP, port: {port_a}}}, {{name: b, protocol: HTTP, port: {port_b}}}]"
        await apply_here(
            daemon,
            f"""
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: eg}}
spec: {{controllerName: gateway.envoyproxy.io/gatewayclass-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  gatewayClassName: eg
  addresses: [{{type: IPAddress, value: 127.0.0.1}}]
  listeners: {listeners}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: one}}
spec:
  parentRefs: [{{name: edge}}]
  rules: [{{matches: [{{path: {{type: PathPrefix, value: /one}}}}], backendRefs: [{{name: one, port: 80}}]}}]
---
{service_documents("one", ports["one"])}
---
{service_documents("two", ports["two"])}
""",
        )
        async with sotw_envoy(tmp_path, daemon) as envoy:
            await wait_for(f"http://127.0.0.1:{port_a}/one", "one /one")
            await apply_here(
                daemon,
                f"""
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata: {{name: bad}}
spec:
  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: edge}}
  type: JSONPatch
  jsonPatches:
  - type: type.googleapis.com/envoy.config.route.v3.RouteConfiguration
    name: default/edge/http/{port_a}
    operation:
      op: add
      path: /virtual_hosts/0/routes/0
      value: {{match: {{safe_regex: {{regex: "(unclosed"}}}}, direct_response: {{status: 200}}}}
""",
            )

            async def refused() -> bool:
                stats = await envoy.admin("/stats?filter=rds\\..*update_rejected")
                return any(line.endswith(": 1") for line in str(stats).splitlines())

            await serving.eventually(refused, within=10, what="the Envoy refuses listener a's route configuration")
            await apply_here(
                daemon,
                """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: two}
spec:
  parentRefs: [{name: edge, sectionName: b}]
  rules: [{matches: [{path: {type: PathPrefix, value: /two}}], backendRefs: [{name: two, port: 80}]}]
""",
            )
            await wait_for(f"http://127.0.0.1:{port_b}/two", "two /two")
            await wait_for(f"http://127.0.0.1:{port_a}/one", "one /one")  # a keeps what it had
