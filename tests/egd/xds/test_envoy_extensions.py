"""End to end through a real Envoy: EnvoyExtensionPolicy. A Lua script from a ConfigMap adds a response header;
an external processor (a grpcio ExternalProcessor in this test) adds a request header the backend echoes. Then
the script changes (a RouteConfiguration update only, no Listener), and the Lua policy is deleted: the same
Envoy follows without a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

from egd.natsserver import pick_free_port
from projections.xds.resources import LISTENER, ROUTE_CONFIGURATION
from tests.egd.serving import echoing, eventually, grpc_service, start_http_app
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    GatewayFeed,
    extension_policy,
    gateway,
    http_listener,
    service,
    service_route,
)

pytestmark = pytest.mark.slow


class HeaderAdder(ep_grpc.ExternalProcessorServicer):
    """Adds `x-ext-proc: seen` to every request's headers; counts the requests it processed."""

    def __init__(self) -> None:
        self.processed = 0

    async def Process(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802 (gRPC's name)
        async for request in request_iterator:
            if request.HasField("request_headers"):
                self.processed += 1
                header = base_pb2.HeaderValue(key="x-ext-proc", raw_value=b"seen")
                mutation = ep.HeaderMutation(set_headers=[base_pb2.HeaderValueOption(header=header)])
                yield ep.ProcessingResponse(
                    request_headers=ep.HeadersResponse(response=ep.CommonResponse(header_mutation=mutation))
                )
            elif request.HasField("response_headers"):
                yield ep.ProcessingResponse(response_headers=ep.HeadersResponse())


@pytest.fixture
async def processor() -> AsyncIterator[tuple[HeaderAdder, int]]:
    adder = HeaderAdder()
    async with grpc_service(lambda server: ep_grpc.add_ExternalProcessorServicer_to_server(adder, server)) as port:
        yield adder, port


def _script(version: str) -> str:
    return f'function envoy_on_response(handle)\n  handle:headers():add("x-lua", "{version}")\nend\n'


def documents(ports: dict[str, int], *, script: str | None) -> list[Any]:
    docs: list[Any] = [
        *gateway([http_listener(ports["http"])]),
        *service("app", ports["app"]),
        *service("processor", ports["processor"]),
        service_route("lua", "/lua"),
        service_route("proc", "/proc"),
        service_route("plain", "/plain"),
        extension_policy(
            "proc",
            "proc",
            extProc=[{"backendRefs": [{"name": "processor", "port": 80}], "processingMode": {"request": {}}}],
        ),
    ]
    if script is not None:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "lua", "namespace": "default"},
                "data": {"lua": script},
            }
        )
        docs.append(
            extension_policy(
                "lua", "lua", lua=[{"type": "ValueRef", "valueRef": {"group": "", "kind": "ConfigMap", "name": "lua"}}]
            )
        )
    return docs


async def test_extension_policies_through_real_envoy(
    server: Server, recorded: Recorded, processor: tuple[HeaderAdder, int], tmp_path: Path
) -> None:
    adder, processor_port = processor
    app_runner, app_port = await start_http_app(echoing("app"))
    ports = {"http": pick_free_port(), "app": app_port, "processor": processor_port}
    feed = GatewayFeed(server.bus)
    feed.publish(documents(ports, script=_script("v1")))
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="extensions"),
            aiohttp.ClientSession() as s,
        ):

            async def response(path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
                try:
                    async with s.get(base + path, timeout=aiohttp.ClientTimeout(total=3)) as r:
                        body = await r.json() if r.status == 200 else {}
                        return r.status, {k.lower(): v for k, v in r.headers.items()}, body
                except aiohttp.ClientError:
                    return 0, {}, {}

            async def lua_says(version: str | None) -> bool:
                status, headers, _ = await response("/lua")
                return status == 200 and headers.get("x-lua") == version

            await eventually(lambda: lua_says("v1"), what="the Lua script's header")
            assert recorded.nacks == []
            # the external processor's header reaches the backend; other routes run neither extension
            status, _, body = await response("/proc")
            assert status == 200
            assert {k.lower(): v for k, v in body["headers"].items()}.get("x-ext-proc") == "seen"
            assert adder.processed >= 1
            status, headers, body = await response("/plain")
            assert status == 200 and "x-lua" not in headers
            assert "x-ext-proc" not in {k.lower() for k in body["headers"]}

            # a new script: only the RouteConfiguration changes, and the same Envoy runs it
            update = feed.publish(documents(ports, script=_script("v2")))
            assert ROUTE_CONFIGURATION in update.changes and LISTENER not in update.changes
            await eventually(lambda: lua_says("v2"), what="the changed script")

            # the Lua policy deleted: its header is gone, the external processor still runs
            feed.publish(documents(ports, script=None))
            await eventually(lambda: lua_says(None), what="the Lua policy removed")
            status, _, body = await response("/proc")
            assert {k.lower(): v for k, v in body["headers"].items()}.get("x-ext-proc") == "seen"
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
