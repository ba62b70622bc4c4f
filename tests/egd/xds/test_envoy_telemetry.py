"""End to end with a real Envoy: the GatewayClass's EnvoyProxy gives the Gateway a file access log with a
custom text format; requests through Envoy appear in the file, and a new format is pushed live. An ALS sink
(a grpcio AccessLogService in the test, reached through a Backend) receives the HTTP log entries of requests,
with the extra request header asked for; a new log name is pushed live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from egd.natsserver import pick_free_port
from projections.xds.resources import CLUSTER, LISTENER
from tests.egd.serving import PolicyBackend, eventually, fetch_json, grpc_service, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import FAST_FILE_FLUSH, run_envoy
from tests.egd.xds.gateway_documents import GatewayFeed, backend_route, eg_backend, gateway_with_proxy

pytestmark = pytest.mark.slow


def _file_log_proxy(path: Path, text: str) -> dict[str, Any]:
    """The spec of an EnvoyProxy logging to the file at `path` in the format `text`."""
    return {
        "concurrency": 1,  # host-side: ignored
        "telemetry": {
            "accessLog": {
                "settings": [
                    {
                        "format": {"type": "Text", "text": text},
                        "sinks": [{"type": "File", "file": {"path": str(path)}}],
                    }
                ]
            }
        },
    }


def _documents(port: int, backend: PolicyBackend, proxy_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *gateway_with_proxy(port, proxy_spec),
        eg_backend("one-only", backend.port),
        backend_route("plain", "/plain", "one-only"),
    ]


async def test_file_access_log_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    backend = PolicyBackend("one")
    await backend.start()
    log = tmp_path / "access.log"
    port = pick_free_port()
    feed = GatewayFeed(server.bus)
    first = _file_log_proxy(log, "egd-log %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE%\n")
    feed.publish(_documents(port, backend, first))
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="telemetry", extra_args=FAST_FILE_FLUSH),
            aiohttp.ClientSession() as session,
        ):
            await until_served(session, f"{base}/plain/warm-up")
            assert (await fetch_json(session, f"{base}/plain/one"))[0] == 200
            assert (await fetch_json(session, f"{base}/nowhere"))[0] == 404

            def lines() -> list[str]:
                return log.read_text().splitlines() if log.exists() else []

            async def logged(*wanted: str) -> bool:
                return all(line in lines() for line in wanted)

            await eventually(
                lambda: logged("egd-log GET /plain/one 200", "egd-log GET /nowhere 404"), what="access log lines"
            )

            # a new format is pushed live as the listener alone: no restart, no cluster resent
            second = _file_log_proxy(log, "egd-v2 %RESPONSE_CODE% %REQ(:PATH)%\n")
            update = feed.publish(_documents(port, backend, second))
            assert set(update.changes) == {LISTENER}
            assert CLUSTER not in update.changes

            # the old listener drains the kept-alive connection: new connections reach the new one
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:

                async def new_format() -> bool:
                    await fetch_json(fresh, f"{base}/plain/two")
                    return "egd-v2 200 /plain/two" in lines()

                await eventually(new_format, what="the new access log format")
            assert recorded.nacks == []
    finally:
        await backend.stop()


class AccessLogReceiver(als_pb2_grpc.AccessLogServiceServicer):
    """Keeps every HTTP log entry it receives, with the log name of its stream."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    async def StreamAccessLogs(self, request_iterator: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
        log_name = ""
        async for message in request_iterator:
            if message.HasField("identifier"):
                log_name = message.identifier.log_name
            self.entries.extend((log_name, entry) for entry in message.http_logs.log_entry)
        return als_pb2.StreamAccessLogsResponse()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[AccessLogReceiver, int]]:
    found = AccessLogReceiver()
    async with grpc_service(lambda server: als_pb2_grpc.add_AccessLogServiceServicer_to_server(found, server)) as port:
        yield found, port


def _als_proxy(log_name: str) -> dict[str, Any]:
    """The spec of an EnvoyProxy sending HTTP access logs named `log_name` to the Backend `als`."""
    sink = {
        "type": "ALS",
        "als": {
            "type": "HTTP",
            "logName": log_name,
            "backendRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "als"}],
            "http": {"requestHeaders": ["x-trace-me"]},
        },
    }
    return {"telemetry": {"accessLog": {"settings": [{"sinks": [sink]}]}}}


async def test_als_access_log_through_real_envoy(
    server: Server, recorded: Recorded, receiver: tuple[AccessLogReceiver, int], tmp_path: Path
) -> None:
    found, als_port = receiver
    backend = PolicyBackend("one")
    await backend.start()
    port = pick_free_port()
    feed = GatewayFeed(server.bus)

    def documents(log_name: str) -> list[dict[str, Any]]:
        return [*_documents(port, backend, _als_proxy(log_name)), eg_backend("als", als_port)]

    feed.publish(documents("edge"))
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="als"),
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        ):

            async def logged(log_name: str, path: str) -> bool:
                await fetch_json(session, f"{base}{path}", headers={"x-trace-me": path})
                return any(
                    name == log_name
                    and entry.request.path == path
                    and entry.request.request_headers.get("x-trace-me") == path
                    and entry.response.response_code.value == 200
                    for name, entry in found.entries
                )

            await eventually(lambda: logged("edge", "/plain/one"), what="an ALS entry for the request")
            assert recorded.nacks == []

            # a new log name: the listener alone changes, the same Envoy streams under the new name
            update = feed.publish(documents("edge-2"))
            assert set(update.changes) == {LISTENER}
            await eventually(lambda: logged("edge-2", "/plain/two"), what="ALS entries under the new log name")
            assert recorded.nacks == []
    finally:
        await backend.stop()
