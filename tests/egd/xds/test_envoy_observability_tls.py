"""End to end with a real Envoy: an access log with a CEL `matches` expression logs only the requests it matches;
Zipkin tracing to a collector reached through a Backend carries the EnvoyProxy's custom tags; an HTTPS backend
that requires a client certificate is reached only once the EnvoyProxy's `backendTLS.clientCertificateRef`
gives Envoy one."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from tests.egd.pki import CA
from tests.egd.serving import PolicyBackend, eventually, fetch_json, start_http_app, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import FAST_FILE_FLUSH, run_envoy
from tests.egd.xds.gateway_documents import (
    GW_API,
    NAMESPACE,
    GatewayFeed,
    backend_route,
    ca_config_map,
    eg_backend,
    gateway_with_proxy,
    tls_secret,
)

pytestmark = pytest.mark.slow


async def test_access_log_matches_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    backend = PolicyBackend("one")
    await backend.start()
    log = tmp_path / "matched.log"
    port = pick_free_port()
    spec = {
        "telemetry": {
            "accessLog": {
                "settings": [
                    {
                        "format": {"type": "Text", "text": "matched %REQ(:PATH)%\n"},
                        "matches": ["request.headers['x-log'] == 'yes'"],
                        "sinks": [{"type": "File", "file": {"path": str(log)}}],
                    }
                ]
            }
        }
    }
    documents = [
        *gateway_with_proxy(port, spec),
        eg_backend("one-only", backend.port),
        backend_route("app", "/", "one-only"),
    ]
    GatewayFeed(server.bus).publish(documents)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="log-matches", extra_args=FAST_FILE_FLUSH),
            aiohttp.ClientSession() as session,
        ):
            await until_served(session, f"{base}/warm-up")
            assert (await fetch_json(session, f"{base}/skipped"))[0] == 200
            assert (await fetch_json(session, f"{base}/kept", headers={"x-log": "yes"}))[0] == 200
            assert (await fetch_json(session, f"{base}/skipped-too", headers={"x-log": "no"}))[0] == 200

            def lines() -> list[str]:
                return log.read_text().splitlines() if log.exists() else []

            async def logged() -> bool:
                return "matched /kept" in lines()

            await eventually(logged, what="the matching request logged")
            assert lines() == ["matched /kept"]  # the others did not match
            assert recorded.nacks == []
    finally:
        await backend.stop()


class ZipkinCollector:
    """Receives Zipkin v2 JSON spans on /api/v2/spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.spans.extend(json.loads(await request.read()))
        return web.Response(status=202)

    async def start(self) -> None:
        self._runner, self.port = await start_http_app(self._receive, method="POST", path="/api/v2/spans")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_zipkin_custom_tags_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    backend = PolicyBackend("one")
    collector = ZipkinCollector()
    await backend.start()
    await collector.start()
    port = pick_free_port()
    spec = {
        "telemetry": {
            "tracing": {
                "samplingRate": 100,
                "provider": {
                    "type": "Zipkin",
                    "backendRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "zipkin"}],
                },
                "customTags": {
                    "team": {"type": "Literal", "literal": {"value": "payments"}},
                    "tenant": {"type": "RequestHeader", "requestHeader": {"name": "x-tenant", "defaultValue": "none"}},
                },
                "tags": {"egd.method": "%REQ(:METHOD)%"},
            }
        }
    }
    documents = [
        *gateway_with_proxy(port, spec),
        eg_backend("zipkin", collector.port),
        eg_backend("one-only", backend.port),
        backend_route("app", "/", "one-only"),
    ]
    GatewayFeed(server.bus).publish(documents)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="zipkin-tags"),
            aiohttp.ClientSession() as session,
        ):
            await until_served(session, f"{base}/warm-up")
            assert (await fetch_json(session, f"{base}/traced", headers={"x-tenant": "acme"}))[0] == 200

            def traced() -> list[dict[str, Any]]:
                return [s for s in collector.spans if s.get("tags", {}).get("http.url", "").endswith("/traced")]

            async def received() -> bool:
                return bool(traced())

            # Envoy's Zipkin tracer flushes every 5 s
            await eventually(received, within=20, what="the span of the traced request at the collector")
            tags = traced()[0]["tags"]
            assert (tags["team"], tags["tenant"], tags["egd.method"]) == ("payments", "acme", "GET")
            assert recorded.nacks == []
    finally:
        await collector.stop()
        await backend.stop()


async def test_client_certificate_to_backend_through_real_envoy(
    server: Server, recorded: Recorded, tmp_path: Path
) -> None:
    ca = CA()
    client_cert, client_key = ca.issue("envoy-client")
    requires_client = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.pem)
    requires_client.verify_mode = ssl.CERT_REQUIRED
    requires_client.load_cert_chain(*ca.issue_to(tmp_path, "backend", "backend.internal"))
    backend = PolicyBackend("mtls-backend")
    await backend.start(requires_client)
    port = pick_free_port()
    tls_documents = [
        ca_config_map("ca", ca.pem),
        tls_secret("envoy-client", client_cert, client_key),
        eg_backend("mtls", backend.port),
        backend_route("app", "/", "mtls"),
        {
            "apiVersion": GW_API,
            "kind": "BackendTLSPolicy",
            "metadata": {"name": "backend-tls", "namespace": NAMESPACE},
            "spec": {
                "targetRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "mtls"}],
                "validation": {
                    "hostname": "backend.internal",
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
                },
            },
        },
    ]
    feed = GatewayFeed(server.bus)
    feed.publish([*gateway_with_proxy(port, {"backendTLS": {"minVersion": "1.2"}}), *tls_documents])
    url = f"http://127.0.0.1:{port}/"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="client-certificate"),
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        ):

            async def refused() -> bool:
                return (await fetch_json(session, url))[0] == 503

            # the backend requires a client certificate: without one the TLS handshake fails
            await eventually(refused, what="Envoy refused by the backend without a client certificate")
            assert backend.hits == {}

            spec = {"backendTLS": {"minVersion": "1.2", "clientCertificateRef": {"name": "envoy-client"}}}
            feed.publish([*gateway_with_proxy(port, spec), *tls_documents])

            async def reached() -> bool:
                status, body, _ = await fetch_json(session, url)
                return status == 200 and body.get("backend") == "mtls-backend"

            await eventually(reached, what="the backend reached with Envoy's client certificate")
            assert recorded.nacks == []
    finally:
        await backend.stop()
