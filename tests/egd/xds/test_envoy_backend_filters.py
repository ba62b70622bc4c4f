"""End to end with a real Envoy: BackendTrafficPolicy's per-route HTTP filters and upgrades change what Envoy
does (compression, response overrides, request buffering, WebSocket upgrades, DNS settings of a hostname
Backend); a policy change is pushed live, as only the resources it affects."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from egd.natsserver import pick_free_port
from projections.xds.resources import VIRTUAL_HOST
from tests.egd.serving import eventually, start_http_app, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    EG,
    NAMESPACE,
    GatewayFeed,
    backend_route,
    backend_traffic_policy,
    eg_backend,
    gateway,
    http_listener,
)

pytestmark = pytest.mark.slow

BIG = "egd compresses this line again and again.\n" * 200


class Backend:
    """`/big` answers 8 KB of text, `/small` a few bytes, `/missing` 404, `/broken` 502, a POST the size of its
    body, `/ws` a WebSocket that echoes; it records the Accept-Encoding it was sent."""

    def __init__(self) -> None:
        self.port = 0
        self.accept_encodings: list[str | None] = []
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.accept_encodings.append(request.headers.get("Accept-Encoding"))
        tail = request.path.rsplit("/", 1)[-1]
        if tail == "ws":
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            async for message in socket:
                await socket.send_str(f"echo: {message.data}")
            return socket
        if request.method == "POST":
            return web.json_response({"received": len(await request.read())})
        if tail == "big":
            return web.Response(text=BIG)
        if tail == "missing":
            return web.Response(status=404, text="the backend's own 404")
        if tail == "broken":
            return web.Response(status=502, text="the backend's own 502")
        return web.Response(text="tiny")

    async def start(self) -> None:
        self._runner, self.port = await start_http_app(self._handle)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    found = Backend()
    await found.start()
    try:
        yield found
    finally:
        await found.stop()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes  # as sent: the session does not decompress

    @property
    def text(self) -> str:
        return self.body.decode()


async def fetch(session: aiohttp.ClientSession, url: str, method: str = "GET", **options: Any) -> Reply:
    async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=5), **options) as response:
        return Reply(status=response.status, headers=response.headers, body=await response.read())


def _override(body: str) -> list[dict[str, Any]]:
    return [
        {
            "match": {"statusCodes": [{"type": "Value", "value": 404}]},
            "response": {"contentType": "text/plain", "body": {"type": "Inline", "inline": body}},
        },
        {
            "match": {"statusCodes": [{"type": "Range", "range": {"start": 500, "end": 511}}]},
            "response": {
                "contentType": "application/json",
                "statusCode": 503,
                "body": {"type": "ValueRef", "valueRef": {"group": "", "kind": "ConfigMap", "name": "error-page"}},
            },
        },
    ]


async def test_backend_traffic_filters_through_real_envoy(
    server: Server, recorded: Recorded, backend: Backend, tmp_path: Path
) -> None:
    port = pick_free_port()
    hostname_backend = {
        "apiVersion": EG,
        "kind": "Backend",
        "metadata": {"name": "by-name", "namespace": NAMESPACE},
        "spec": {"endpoints": [{"fqdn": {"hostname": "localhost", "port": backend.port}}]},
    }
    documents = [
        *gateway([http_listener(port)]),
        eg_backend("app", backend.port),
        hostname_backend,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "error-page", "namespace": NAMESPACE},
            "data": {"response.body": '{"error": "try again later"}'},
        },
        backend_route("compressed", "/compressed", "app"),
        backend_route("overridden", "/overridden", "app"),
        backend_route("buffered", "/buffered", "app"),
        backend_route("upgraded", "/upgraded", "app"),
        backend_route("spdy", "/spdy", "app"),
        backend_route("named", "/named", "by-name"),
        backend_route("plain", "/plain", "app"),
    ]
    policies = [
        backend_traffic_policy("compressed", "compressed", compression=[{"type": "Gzip"}]),
        backend_traffic_policy("overridden", "overridden", responseOverride=_override("nothing here")),
        backend_traffic_policy("buffered", "buffered", requestBuffer={"limit": "1Ki"}),
        backend_traffic_policy("upgraded", "upgraded", httpUpgrade=[{"type": "websocket"}]),
        backend_traffic_policy("spdy", "spdy", httpUpgrade=[{"type": "spdy/3.1"}]),
        backend_traffic_policy(
            "named", "named", dns={"dnsRefreshRate": "1s", "respectDnsTtl": False, "lookupFamily": "IPv4"}
        ),
    ]
    feed = GatewayFeed(server.bus)
    feed.publish([*documents, *policies])
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="backend-filters"),
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        await until_served(session, f"{base}/plain/small")
        assert recorded.nacks == []

        # compression: gzip when the client accepts it and the body is large enough; plain otherwise
        gzipped = await fetch(session, f"{base}/compressed/big", headers={"Accept-Encoding": "gzip"})
        assert gzipped.headers.get("Content-Encoding") == "gzip"
        assert gzip.decompress(gzipped.body).decode() == BIG
        assert backend.accept_encodings[-1] is None  # Envoy compresses, not the backend
        plain = await fetch(session, f"{base}/compressed/big", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert plain.text == BIG
        small = await fetch(session, f"{base}/compressed/small", headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in small.headers
        elsewhere = await fetch(session, f"{base}/plain/big", headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in elsewhere.headers

        # response override: the backend's 404 and 502 replaced; other responses and routes untouched
        missing = await fetch(session, f"{base}/overridden/missing")
        assert (missing.status, missing.text) == (404, "nothing here")
        assert missing.headers["Content-Type"] == "text/plain"
        broken = await fetch(session, f"{base}/overridden/broken")
        assert (broken.status, broken.text) == (503, '{"error": "try again later"}')
        assert broken.headers["Content-Type"] == "application/json"
        assert (await fetch(session, f"{base}/overridden/small")).text == "tiny"
        assert (await fetch(session, f"{base}/plain/missing")).text == "the backend's own 404"

        # request buffer: a body within the limit passes whole, a larger one is refused with 413
        accepted = await fetch(session, f"{base}/buffered/upload", method="POST", data=b"x" * 512)
        assert (accepted.status, json.loads(accepted.body)) == (200, {"received": 512})
        assert (await fetch(session, f"{base}/buffered/upload", method="POST", data=b"x" * 4096)).status == 413
        assert (await fetch(session, f"{base}/plain/upload", method="POST", data=b"x" * 4096)).status == 200

        # HTTP upgrade: a WebSocket goes through where a policy allows it and, as in Envoy Gateway, on routes
        # without `httpUpgrade`; a route whose policy lists other upgrade types refuses it
        for allowed in ("upgraded", "plain"):
            async with session.ws_connect(f"{base}/{allowed}/ws") as socket:
                await socket.send_str("hello")
                assert (await socket.receive_str(timeout=5)) == "echo: hello"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with session.ws_connect(f"{base}/spdy/ws"):
                pass

        # dns: the hostname Backend's cluster resolves `localhost` with the policy's settings
        assert (await fetch(session, f"{base}/named/small")).status == 200
        assert recorded.nacks == []

        # a changed override is pushed live, as the one RouteConfiguration it changes
        pushed_before = len(recorded.responses)
        changed = [p for p in policies if p["metadata"]["name"] != "overridden"]
        changed.append(
            backend_traffic_policy("overridden", "overridden", responseOverride=_override("still nothing here"))
        )
        feed.publish([*documents, *changed])

        async def changed_body() -> bool:
            return (await fetch(session, f"{base}/overridden/missing")).text == "still nothing here"

        await eventually(changed_body, what="the changed override")
        pushed = recorded.sent_since(pushed_before)
        assert {p.type_url for p in pushed} == {VIRTUAL_HOST}  # the route's virtual host only (VHDS)
        assert sum(p.resources for p in pushed) == 1

        # compression added to another route: its listener gets nothing new, Envoy is not restarted
        with_compression = [*changed, backend_traffic_policy("plain", "plain", compression=[{"type": "Gzip"}])]
        feed.publish([*documents, *with_compression])

        async def plain_compressed() -> bool:
            response = await fetch(session, f"{base}/plain/big", headers={"Accept-Encoding": "gzip"})
            return response.headers.get("Content-Encoding") == "gzip"

        await eventually(plain_compressed, what="compression on the plain route")
        assert recorded.nacks == []
