"""End to end with a real Envoy: HTTPRoute session persistence (a cookie or a header keeps a client on one of
two endpoints) and the ClientTrafficPolicy settings a client can observe (health check path answered by
Envoy, late response headers, Envoy's x-envoy-* headers, X-Forwarded-Client-Cert from a client certificate,
TLS session resumption, TCP idle timeout); each change is pushed live."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from projections.xds.resources import VIRTUAL_HOST
from tests.egd.pki import CA
from tests.egd.serving import eventually, fetch_json, start_http_app, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    GATEWAY,
    NAMESPACE,
    GatewayFeed,
    backend_route,
    ca_config_map,
    client_traffic_policy,
    eg_backend,
    gateway,
    http_listener,
    https_listener,
    tls_secret,
)

pytestmark = pytest.mark.slow


class EchoBackend:
    """An aiohttp backend answering with its name and the request headers it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"backend": self.name, "headers": {k.lower(): v for k, v in request.headers.items()}})

    async def start(self) -> None:
        self._runner, self.port = await start_http_app(self._handle)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def echoes() -> AsyncIterator[tuple[EchoBackend, EchoBackend]]:
    one, two = EchoBackend("one"), EchoBackend("two")
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.stop()
        await two.stop()


def _sticky_route(name: str, path: str, session: dict[str, Any]) -> dict[str, Any]:
    route = backend_route(name, path, "both")
    route["spec"]["rules"][0]["sessionPersistence"] = session
    return route


async def test_session_persistence_through_real_envoy(
    server: Server, recorded: Recorded, echoes: tuple[EchoBackend, EchoBackend], tmp_path: Path
) -> None:
    one, two = echoes
    port = pick_free_port()
    listener = http_listener(port)
    base_documents = [*gateway([listener]), eg_backend("both", one.port, two.port)]
    routes = [
        backend_route("spread", "/spread", "both"),
        _sticky_route("by-cookie", "/cookie", {"sessionName": "egd-session", "type": "Cookie"}),
        _sticky_route("by-header", "/header", {"sessionName": "x-egd-session", "type": "Header"}),
    ]
    feed = GatewayFeed(server.bus)
    feed.publish([*base_documents, *routes])
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="sessions"),
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):
        await until_served(client, f"{base}/spread")
        # without a session, requests go to both endpoints
        assert {(await fetch_json(client, f"{base}/spread"))[1]["backend"] for _ in range(8)} == {"one", "two"}

        # cookie: the first answer sets the session cookie, requests carrying it stay on that endpoint
        status, body, headers = await fetch_json(client, f"{base}/cookie")
        assert status == 200
        set_cookie = headers.get("set-cookie", "")
        assert set_cookie.startswith("egd-session="), headers
        assert "Path=/cookie" in set_cookie
        cookie = set_cookie.split(";", 1)[0]
        for _ in range(8):
            answered = await fetch_json(client, f"{base}/cookie", headers={"Cookie": cookie})
            assert answered[1]["backend"] == body["backend"]

        # header: the session comes back in a response header, and is sent back in the same header
        status, body, headers = await fetch_json(client, f"{base}/header")
        assert status == 200
        session = headers.get("x-egd-session")
        assert session, headers
        for _ in range(8):
            answered = await fetch_json(client, f"{base}/header", headers={"x-egd-session": session})
            assert answered[1]["backend"] == body["backend"]
        assert recorded.nacks == []

        # a changed session name is pushed live, as the route configuration alone
        pushed_before = len(recorded.responses)
        renamed = _sticky_route("by-cookie", "/cookie", {"sessionName": "renamed", "type": "Cookie"})
        feed.publish([*base_documents, routes[0], renamed, routes[2]])

        async def renamed_cookie() -> bool:
            return str((await fetch_json(client, f"{base}/cookie"))[2].get("set-cookie", "")).startswith("renamed=")

        await eventually(renamed_cookie, what="the renamed session cookie")
        pushed = recorded.sent_since(pushed_before)
        assert {p.type_url for p in pushed} == {VIRTUAL_HOST}  # the route's virtual host only (VHDS)
        assert recorded.nacks == []


async def test_client_traffic_policy_http_features_through_real_envoy(
    server: Server, recorded: Recorded, echoes: tuple[EchoBackend, EchoBackend], tmp_path: Path
) -> None:
    one, _ = echoes
    port = pick_free_port()
    documents = [
        *gateway([http_listener(port)]),
        eg_backend("one-only", one.port),
        backend_route("app", "/", "one-only"),
    ]
    policy = client_traffic_policy(
        "client",
        healthCheck={"path": "/ready"},
        headers={"lateResponseHeaders": {"set": [{"name": "x-served-by", "value": "egd"}]}},
    )
    feed = GatewayFeed(server.bus)
    feed.publish([*documents, policy])
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="client-http"),
        aiohttp.ClientSession() as client,
    ):
        await until_served(client, f"{base}/app")
        hits = one.hits
        # health check: Envoy answers the path itself, the backend is never asked
        assert (await fetch_json(client, f"{base}/ready"))[0] == 200
        assert one.hits == hits
        # late response headers on the backend's responses; no x-envoy-* headers by default
        status, _, headers = await fetch_json(client, f"{base}/app")
        assert (status, headers.get("x-served-by")) == (200, "egd")
        assert "x-envoy-upstream-service-time" not in headers

        # enabling Envoy's headers is pushed live
        enabled = client_traffic_policy("client", healthCheck={"path": "/ready"}, headers={"enableEnvoyHeaders": True})
        feed.publish([*documents, enabled])

        async def envoy_headers() -> bool:
            return "x-envoy-upstream-service-time" in (await fetch_json(client, f"{base}/app"))[2]

        await eventually(envoy_headers, what="x-envoy headers enabled")
        assert "x-served-by" not in (await fetch_json(client, f"{base}/app"))[2]

        # deleting the policy: the health check path goes to the backend like any other
        feed.publish(documents)

        async def health_check_gone() -> bool:
            return (await fetch_json(client, f"{base}/ready"))[1].get("backend") == "one"

        await eventually(health_check_gone, what="health check filter removed")
        assert recorded.nacks == []


def _https_request(port: int, context: ssl.SSLContext, session: ssl.SSLSession | None) -> tuple[bool, Any]:
    """One request over a fresh TLS connection: (was the session resumed, the session to resume next time)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="secure.example.com", session=session) as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: secure.example.com\r\nConnection: close\r\n\r\n")
        while tls.recv(65536):  # read to the end: TLS 1.3 tickets arrive after the handshake
            pass
        return tls.session_reused, tls.session


async def test_client_traffic_policy_tls_features_through_real_envoy(
    server: Server, recorded: Recorded, echoes: tuple[EchoBackend, EchoBackend], tmp_path: Path
) -> None:
    one, _ = echoes
    ca = CA()
    server_cert, server_key = ca.issue("secure.example.com")
    port = pick_free_port()
    documents = [
        *gateway([https_listener(port, "secure.example.com")]),
        tls_secret("cert", server_cert, server_key),
        ca_config_map("ca", ca.pem),
        eg_backend("one-only", one.port),
        backend_route("app", "/", "one-only"),
    ]
    mtls = {"clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "ca"}]}}
    xfcc = {"xForwardedClientCert": {"mode": "SanitizeSet", "certDetailsToAdd": ["Subject"]}}
    policy = client_traffic_policy("tls", tls={**mtls, "session": {"resumption": {"stateless": {}}}}, headers=xfcc)
    feed = GatewayFeed(server.bus)
    feed.publish([*documents, policy])
    context = ssl.create_default_context(cadata=ca.pem)
    context.load_cert_chain(*ca.issue_to(tmp_path, "client", "client"))
    url = f"https://127.0.0.1:{port}/"
    options = {"ssl": context, "server_hostname": "secure.example.com", "headers": {"Host": "secure.example.com"}}
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="client-tls"),
        aiohttp.ClientSession() as client,
    ):
        await until_served(client, url, **options, what="mTLS traffic through Envoy")
        # X-Forwarded-Client-Cert: SanitizeSet drops the client's own and sets the certificate's subject
        forged = {**options, "headers": {**options["headers"], "x-forwarded-client-cert": "Subject=forged"}}
        _, body, _ = await fetch_json(client, url, **forged)
        forwarded = body["headers"]["x-forwarded-client-cert"]
        assert 'Subject="CN=client"' in forwarded
        assert "forged" not in forwarded

        # stateless TLS session resumption: a second connection resumes the first one's session
        _, ticket = await asyncio.to_thread(_https_request, port, context, None)
        resumed, _ = await asyncio.to_thread(_https_request, port, context, ticket)
        assert resumed

        # without tls.session, Envoy offers no resumption (Envoy Gateway's default), pushed live
        feed.publish([*documents, client_traffic_policy("tls", tls=mtls, headers=xfcc)])

        async def not_resumed() -> bool:
            _, ticket = await asyncio.to_thread(_https_request, port, context, None)
            resumed, _ = await asyncio.to_thread(_https_request, port, context, ticket)
            return not resumed

        await eventually(not_resumed, what="session resumption disabled")
        assert recorded.nacks == []


async def test_client_traffic_policy_tcp_idle_timeout_through_real_envoy(
    server: Server, recorded: Recorded, tmp_path: Path
) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    backend = await asyncio.start_server(echo, "127.0.0.1", 0)
    backend_port = backend.sockets[0].getsockname()[1]
    port = pick_free_port()
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1alpha2",
        "kind": "TCPRoute",
        "metadata": {"name": "tcp", "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "rules": [{"backendRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": "echo"}]}],
        },
    }
    documents = [
        *gateway([{"name": "tcp", "protocol": "TCP", "port": port}]),
        eg_backend("echo", backend_port),
        route,
        client_traffic_policy("idle", timeout={"tcp": {"idleTimeout": "500ms"}}),
    ]
    GatewayFeed(server.bus).publish(documents)

    async def echoed() -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        try:
            writer.write(b"ping")
            return await asyncio.wait_for(reader.read(4), 2) == b"ping"
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    try:
        async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="client-tcp"):
            await eventually(echoed, what="TCP through Envoy")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.read(4), 2) == b"ping"
            # idle for longer than the policy allows: Envoy closes the connection
            assert await asyncio.wait_for(reader.read(1), 5) == b""
            writer.close()
            assert recorded.nacks == []
    finally:
        backend.close()
        await backend.wait_closed()
