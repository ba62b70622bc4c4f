"""End to end with a real Envoy: HTTPRouteFilter `credentialInjection` (the backend sees the credential of a
Secret; a header the client sent is kept unless `overwrite`; a Secret change is pushed live without touching the
listener; a rule whose Secret is missing is left out, the rest keeps working) and BackendTrafficPolicy
`bandwidthLimit` (a response limit slows one route's download, not another's)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from projections.xds.resources import LISTENER, SECRET
from tests.egd.serving import eventually, http_app, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    EG,
    GATEWAY,
    GW_API,
    NAMESPACE,
    GatewayFeed,
    backend_route,
    backend_traffic_policy,
    eg_backend,
    gateway,
    http_listener,
)

pytestmark = pytest.mark.slow

DOWNLOAD = 256 * 1024


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A backend that answers the request headers it was sent as JSON, or `/…/download` 256 KiB."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/download"):
            return web.Response(body=b"x" * DOWNLOAD)
        return web.json_response({"headers": dict(request.headers)})

    async with http_app(handle) as port:
        yield port


def _secret(name: str, credential: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"credential": base64.b64encode(credential.encode()).decode()},
    }


def _injection(name: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "HTTPRouteFilter",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"credentialInjection": {"credential": {"valueRef": {"name": secret}}, **spec}},
    }


def _rule(path: str, extension: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": path}}],
        "backendRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "app"}],
    }
    if extension is not None:
        ref = {"group": "gateway.envoyproxy.io", "kind": "HTTPRouteFilter", "name": extension}
        rule["filters"] = [{"type": "ExtensionRef", "extensionRef": ref}]
    return rule


def _injected_route(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"parentRefs": [{"name": GATEWAY}], "rules": list(rules)},
    }


async def _headers(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, dict[str, str]]:
    """The status and the request headers the backend saw (names in lower case)."""
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as response:
        if response.status != 200:
            return response.status, {}
        body: dict[str, dict[str, str]] = await response.json()
        return response.status, {name.lower(): value for name, value in body["headers"].items()}


async def test_credential_injection_through_real_envoy(
    server: Server, recorded: Recorded, echo: int, tmp_path: Path
) -> None:
    port = pick_free_port()
    documents = [
        *gateway([http_listener(port)]),
        eg_backend("app", echo),
        _injection("bearer", "token", overwrite=True),
        _injection("api-key", "token", header="X-Api-Key"),
        _injection("kept", "token"),
        _injection("dangling", "not-yet"),
        _injected_route(
            "injected",
            _rule("/bearer", "bearer"),
            _rule("/api-key", "api-key"),
            _rule("/kept", "kept"),
            _rule("/dangling", "dangling"),
            _rule("/uninjected"),
        ),
        backend_route("plain", "/plain", "app"),
    ]
    feed = GatewayFeed(server.bus)
    feed.publish([*documents, _secret("token", "Bearer first")])
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="credentials"),
        aiohttp.ClientSession() as session,
    ):
        await until_served(session, f"{base}/plain")
        assert recorded.nacks == []

        # the backend sees the credential in the filter's header; a client's own value is replaced only with
        # `overwrite`, and routes without the filter get nothing
        assert (await _headers(session, f"{base}/bearer"))[1]["authorization"] == "Bearer first"
        overwritten = await _headers(session, f"{base}/bearer", Authorization="Bearer client")
        assert overwritten[1]["authorization"] == "Bearer first"
        assert (await _headers(session, f"{base}/api-key"))[1]["x-api-key"] == "Bearer first"
        assert (await _headers(session, f"{base}/kept"))[1]["authorization"] == "Bearer first"
        kept = await _headers(session, f"{base}/kept", Authorization="Bearer client")
        assert kept[1]["authorization"] == "Bearer client"
        for path in ("/uninjected", "/plain"):
            status, headers = await _headers(session, base + path)
            assert status == 200
            assert "authorization" not in headers
            assert "x-api-key" not in headers

        # the rule whose Secret is missing is left out (no route matches it); the others keep working
        assert (await _headers(session, f"{base}/dangling"))[0] == 404

        # a changed Secret is pushed live: the backend sees the new credential, the listener is not touched
        pushed_before = len(recorded.responses)
        feed.publish([*documents, _secret("token", "Bearer second")])

        async def rotated() -> bool:
            return (await _headers(session, f"{base}/bearer"))[1].get("authorization") == "Bearer second"

        await eventually(rotated, what="the rotated credential")
        pushed = {sent.type_url for sent in recorded.sent_since(pushed_before)}
        assert SECRET in pushed
        assert LISTENER not in pushed

        # the missing Secret appears: its rule is served with its credential
        with_both = [*documents, _secret("token", "Bearer second"), _secret("not-yet", "Basic late")]
        feed.publish(with_both)

        async def dangling_served() -> bool:
            status, headers = await _headers(session, f"{base}/dangling")
            return status == 200 and headers.get("authorization") == "Basic late"

        await eventually(dangling_served, what="the rule of the created Secret")
        assert (await _headers(session, f"{base}/api-key"))[1]["x-api-key"] == "Bearer second"
        assert recorded.nacks == []


async def _download(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    """The body size of a download and the seconds it took."""
    started = time.monotonic()
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
        size = len(await response.read())
    return size, time.monotonic() - started


async def test_bandwidth_limit_through_real_envoy(
    server: Server, recorded: Recorded, echo: int, tmp_path: Path
) -> None:
    port = pick_free_port()
    documents = [
        *gateway([http_listener(port)]),
        eg_backend("app", echo),
        backend_route("limited", "/limited", "app"),
        backend_route("plain", "/plain", "app"),
        backend_traffic_policy(
            "limited", "limited", bandwidthLimit={"response": {"limit": {"value": "64Ki", "unit": "Second"}}}
        ),
    ]
    GatewayFeed(server.bus).publish(documents)
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="bandwidth"),
        aiohttp.ClientSession() as session,
    ):
        await until_served(session, f"{base}/plain")
        assert recorded.nacks == []

        # 256 KiB at 64 KiB/s: at least three seconds after the first bucket; the other route is not limited
        size, seconds = await _download(session, f"{base}/limited/download")
        assert size == DOWNLOAD
        assert seconds >= 2.8, seconds
        size, seconds = await _download(session, f"{base}/plain/download")
        assert size == DOWNLOAD
        assert seconds < 1.5, seconds
