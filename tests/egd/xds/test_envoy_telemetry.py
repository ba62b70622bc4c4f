"""End to end with a real Envoy: the GatewayClass's EnvoyProxy gives the Gateway a file access log with a
custom text format; requests through Envoy appear in the file, and a new format is pushed live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from egd.natsserver import pick_free_port
from projections.xds.resources import CLUSTER, LISTENER
from projections.xds.translate import XdsTranslator
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.test_envoy_delta import eventually
from tests.egd.xds.test_envoy_policies import EG, NAMESPACE, Backend, _backend, _base, _route, gateway_ir, get

pytestmark = pytest.mark.slow


def _envoy_proxy(path: Path, text: str) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "EnvoyProxy",
        "metadata": {"name": "proxy", "namespace": NAMESPACE},
        "spec": {
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
        },
    }


def _documents(port: int, backend: Backend, proxy: dict[str, Any]) -> list[dict[str, Any]]:
    gateway_class, gateway = _base([{"name": "http", "protocol": "HTTP", "port": port}])
    gateway_class["spec"]["parametersRef"] = {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "proxy",
        "namespace": NAMESPACE,
    }
    return [gateway_class, gateway, proxy, _backend("one-only", backend.port), _route("plain", "/plain", "one-only")]


async def test_file_access_log_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    backend = Backend("one")
    await backend.start()
    log = tmp_path / "access.log"
    port = pick_free_port()
    translator = XdsTranslator()
    first = _envoy_proxy(log, "egd-log %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE%\n")
    server.bus.publish(GROUP, translator.update(gateway_ir(_documents(port, backend, first))))
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            # Envoy flushes access log files every 10 s by default
            run_envoy(
                tmp_path,
                gateway=GROUP,
                xds_port=server.port,
                node_id="telemetry",
                extra_args=("--file-flush-interval-msec", "50"),
            ),
            aiohttp.ClientSession() as session,
        ):

            async def serving() -> bool:
                return (await get(session, f"{base}/plain/warm-up"))[0] == 200

            await eventually(serving, what="traffic through Envoy")
            assert (await get(session, f"{base}/plain/one"))[0] == 200
            assert (await get(session, f"{base}/nowhere"))[0] == 404

            def lines() -> list[str]:
                return log.read_text().splitlines() if log.exists() else []

            async def logged(*wanted: str) -> bool:
                return all(line in lines() for line in wanted)

            await eventually(
                lambda: logged("egd-log GET /plain/one 200", "egd-log GET /nowhere 404"), what="access log lines"
            )

            # a new format is pushed live as the listener alone: no restart, no cluster resent
            second = _envoy_proxy(log, "egd-v2 %RESPONSE_CODE% %REQ(:PATH)%\n")
            update = translator.apply(gateway_ir(_documents(port, backend, second)))
            assert set(update.changes) == {LISTENER}
            assert CLUSTER not in update.changes
            server.bus.publish(GROUP, update.resources)

            # the old listener drains the kept-alive connection: new connections reach the new one
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:

                async def new_format() -> bool:
                    await get(fresh, f"{base}/plain/two")
                    return "egd-v2 200 /plain/two" in lines()

                await eventually(new_format, what="the new access log format")
            assert recorded.nacks == []
    finally:
        await backend.stop()
