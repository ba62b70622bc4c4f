"""End to end through a real Envoy, more SecurityPolicy: authorization by the client address that
X-Forwarded-For gives (a ClientTrafficPolicy trusting one hop), the request body sent to an HTTP external
authorization service, a remote JWKS fetched through a Service (remoteJWKS.backendRefs) and the route picked
again from a verified claim (recomputeRoute), basic auth
forwarding the username, and OIDC up to the redirect to the provider (deny-redirect and pass-through
matchers too, and logging out at the provider's end session endpoint); then policies changed, seen by the
same Envoy without a restart."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from projections.xds.translate import XdsTranslator
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.test_envoy_delta import eventually
from tests.egd.xds.test_envoy_gatewayapi import _service, start_http_backend
from tests.egd.xds.test_envoy_policies import CA
from tests.egd.xds.test_envoy_security import EG, GW, Signer, _basic, _policy, _route, gateway_ir

pytestmark = pytest.mark.slow
AUTHORIZE = "https://idp.egd.test/oauth2/authorize"
END_SESSION = "https://idp.egd.test/oauth2/logout"
JWKS_URI = "http://jwks.egd.test/keys"  # a host no DNS knows: the keys come through the Service


def documents_for_gateway(port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": GW,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": GW,
            "kind": "Gateway",
            "metadata": {"name": "eg", "namespace": "default"},
            "spec": {
                "gatewayClassName": "eg",
                "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                "listeners": [{"name": "http", "protocol": "HTTP", "port": port}],
            },
        },
    ]


def documents(ports: dict[str, int], jwks_issuer: str, *, allowed: str, deny_redirect: str) -> list[Any]:
    sha = base64.b64encode(hashlib.sha1(b"open-sesame").digest()).decode()
    jwt = {
        "providers": [
            {
                "name": "remote",
                "issuer": jwks_issuer,
                "remoteJWKS": {"uri": JWKS_URI, "backendRefs": [{"name": "jwks", "port": 80}]},
            }
        ]
    }
    provider = jwt["providers"][0]
    recomputing = {
        "providers": [{**provider, "claimToHeaders": [{"header": "x-sub", "claim": "sub"}], "recomputeRoute": True}]
    }
    who = _policy("who", "who", jwt=recomputing)
    who["spec"]["targetRefs"].append({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "who-bob"})
    return [
        *documents_for_gateway(ports["http"]),
        {
            "apiVersion": EG,
            "kind": "ClientTrafficPolicy",
            "metadata": {"name": "xff", "namespace": "default"},
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}],
                "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
            },
        },
        *_service("app", ports["app"]),
        *_service("bob", ports["bob"]),
        *_service("authz", ports["authz"]),
        *_service("jwks", ports["jwks"]),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "users", "namespace": "default"},
            "stringData": {".htpasswd": f"alice:{{SHA}}{sha}\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "oidc-client", "namespace": "default"},
            "stringData": {"client-secret": "s3cr3t"},
        },
        _route("internal", "/internal"),
        _route("body", "/body"),
        _route("jwt", "/jwt"),
        # a token for bob is served by bob's backend: the route is picked again with the subject in a header
        _route("who", "/who"),
        _route(
            "who-bob",
            "/who",
            matches=[{"path": {"type": "PathPrefix", "value": "/who"}, "headers": [{"name": "x-sub", "value": "bob"}]}],
            backendRefs=[{"name": "bob", "port": 80}],
        ),
        _route("basic", "/basic"),
        _route("app", "/app"),
        _policy(
            "internal",
            "internal",
            authorization={
                "defaultAction": "Deny",
                "rules": [{"action": "Allow", "principal": {"clientCIDRs": [allowed]}}],
            },
        ),
        _policy(
            "body",
            "body",
            extAuth={
                "http": {"backendRefs": [{"name": "authz", "port": 80}]},
                "bodyToExtAuth": {"maxRequestBytes": 1024},
            },
        ),
        _policy("jwt", "jwt", jwt=jwt),
        who,
        _policy("basic", "basic", basicAuth={"users": {"name": "users"}, "forwardUsernameHeader": "x-user"}),
        _policy(
            "app",
            "app",
            jwt=jwt,
            oidc={
                "provider": {
                    "issuer": "https://idp.egd.test",
                    "authorizationEndpoint": AUTHORIZE,
                    "tokenEndpoint": "https://idp.egd.test/oauth2/token",
                    "endSessionEndpoint": END_SESSION,
                },
                "clientID": "my-app",
                "clientSecret": {"name": "oidc-client"},
                "logoutPath": "/app/logout",
                "denyRedirect": {"headers": [{"name": "x-requested-with", "value": deny_redirect}]},
                "passThroughAuthHeader": True,
            },
        ),
    ]


@pytest.fixture
async def body_authz() -> AsyncIterator[int]:
    """An external authorization service that decides on the request body Envoy sends it."""

    async def check(request: web.Request) -> web.Response:
        if b"let-me-in" in await request.read():
            return web.Response(status=200)
        return web.Response(status=403, text="denied by body")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", check)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = pick_free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[Signer, int, list[str]]]:
    """A JWKS served over plain HTTP at /keys, recording the Host of each fetch."""
    signer = Signer()
    hosts: list[str] = []

    async def keys(request: web.Request) -> web.Response:
        hosts.append(request.host)
        return web.Response(text=signer.jwks, content_type="application/json")

    app = web.Application()
    app.router.add_get("/keys", keys)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = pick_free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield signer, port, hosts
    finally:
        await runner.cleanup()


async def test_more_security_policies_through_real_envoy(
    server: Server,
    recorded: Recorded,
    body_authz: int,
    jwks_server: tuple[Signer, int, list[str]],
    tmp_path: Path,
) -> None:
    signer, jwks_port, jwks_hosts = jwks_server
    app_runner, app_port = await start_http_backend("app")
    bob_runner, bob_port = await start_http_backend("bob")
    ports = {"http": pick_free_port(), "app": app_port, "bob": bob_port, "authz": body_authz, "jwks": jwks_port}
    issuer = "https://issuer.egd.test"
    translator = XdsTranslator()
    first = documents(ports, issuer, allowed="203.0.113.0/24", deny_redirect="XMLHttpRequest")
    server.bus.publish(GROUP, translator.apply(gateway_ir(first)).resources)
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="security-extras"),
            aiohttp.ClientSession() as s,
        ):

            async def status(path: str, method: str = "GET", **options: Any) -> int:
                try:
                    timeout = aiohttp.ClientTimeout(total=3)
                    async with s.request(method, base + path, timeout=timeout, allow_redirects=False, **options) as r:
                        await r.read()
                        return r.status
                except aiohttp.ClientError:
                    return 0

            def xff(address: str) -> dict[str, str]:
                return {"X-Forwarded-For": address}

            async def ready() -> bool:
                return await status("/internal", headers=xff("203.0.113.7")) == 200

            await eventually(ready, what="the XFF-authorized route through Envoy")
            assert recorded.nacks == []

            # authorization by the client address X-Forwarded-For gives, one trusted hop in
            assert await status("/internal") == 403  # the peer, 127.0.0.1
            assert await status("/internal", headers=xff("198.51.100.1")) == 403
            # the body to the authorization service, which decides on it
            assert await status("/body", "POST", data=b"please") == 403
            assert await status("/body", "POST", data=b"please let-me-in") == 200
            # a remote JWKS fetched through the Service, with the URI's host as Host
            token = signer.token({"sub": "bob", "iss": issuer})
            assert await status("/jwt") == 401

            async def verified() -> bool:
                return await status("/jwt", headers={"Authorization": f"Bearer {token}"}) == 200

            await eventually(verified, what="a token verified with the JWKS fetched through the Service")
            assert "jwks.egd.test" in jwks_hosts
            assert await status("/jwt", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}) == 401
            # recomputeRoute: the route picked again once the subject claim is a header
            for subject, backend in (("bob", "bob"), ("carol", "app")):
                bearer = {"Authorization": "Bearer " + signer.token({"sub": subject, "iss": issuer})}
                async with s.get(base + "/who", headers=bearer) as response:
                    assert response.status == 200
                    assert (await response.json())["backend"] == backend
            assert await status("/who", headers={"x-sub": "bob"}) == 401  # no token: no route around the JWT
            # basic auth forwarding the username upstream
            async with s.get(base + "/basic", headers={"Authorization": _basic("alice", "open-sesame")}) as response:
                assert response.status == 200
                assert {k.lower(): v for k, v in (await response.json())["headers"].items()}.get("x-user") == "alice"
            # OIDC: an unauthenticated request is sent to the provider to log in
            async with s.get(base + "/app/page", allow_redirects=False) as response:
                assert response.status == 302
                location = urlsplit(response.headers["location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE
            query = parse_qs(location.query)
            assert query["client_id"] == ["my-app"]
            assert query["redirect_uri"] == [f"http://127.0.0.1:{ports['http']}/oauth2/callback"]
            assert query["response_type"] == ["code"]
            assert "openid" in query["scope"][0].split()
            # logging out clears the session and ends it at the provider too
            async with s.get(base + "/app/logout", allow_redirects=False) as response:
                assert response.status == 302
                assert any("=deleted;" in c for c in response.headers.getall("set-cookie"))
                logout = urlsplit(response.headers["location"])
            assert f"{logout.scheme}://{logout.netloc}{logout.path}" == END_SESSION
            logout_query = parse_qs(logout.query)
            assert logout_query["client_id"] == ["my-app"]
            assert logout_query["post_logout_redirect_uri"] == [f"http://127.0.0.1:{ports['http']}/"]
            # ... except requests the deny-redirect matcher names, which get 401
            assert await status("/app/page", headers={"x-requested-with": "XMLHttpRequest"}) == 401
            # ... and bearer tokens, left to the JWT provider
            assert await status("/app/page", headers={"Authorization": f"Bearer {token}"}) == 200
            assert await status("/app/page", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}) == 401

            # the allowed range and the deny-redirect header value changed: the same Envoy follows
            second = documents(ports, issuer, allowed="198.51.100.0/24", deny_redirect="fetch")
            server.bus.publish(GROUP, translator.apply(gateway_ir(second)).resources)

            async def changed() -> bool:
                return (
                    await status("/internal", headers=xff("198.51.100.1")) == 200
                    and await status("/app/page", headers={"x-requested-with": "fetch"}) == 401
                )

            await eventually(changed, what="the policy changes")
            assert await status("/internal", headers=xff("203.0.113.7")) == 403
            assert await status("/app/page", headers={"x-requested-with": "XMLHttpRequest"}) == 302
            assert await status("/body", "POST", data=b"let-me-in") == 200  # the others hold
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
        await bob_runner.cleanup()


async def test_ext_auth_over_backend_tls_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    """External authorization to an HTTPS service: its Service's BackendTLSPolicy makes Envoy speak TLS to it
    and verify it with the policy's CA, as for any backend."""
    ca = CA()
    certificate, key = ca.issue("authz.internal")
    (tmp_path / "authz.crt").write_text(certificate)
    (tmp_path / "authz.key").write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "authz.crt", tmp_path / "authz.key")
    seen: list[str] = []

    async def check(request: web.Request) -> web.Response:
        seen.append(request.scheme)
        return web.Response(status=200 if request.headers.get("x-allow") == "yes" else 403)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", check)
    authz_runner = web.AppRunner(app, access_log=None)
    await authz_runner.setup()
    authz_port = pick_free_port()
    await web.TCPSite(authz_runner, "127.0.0.1", authz_port, ssl_context=context).start()
    app_runner, app_port = await start_http_backend("app")
    port = pick_free_port()
    documents = [
        *documents_for_gateway(port),
        *_service("app", app_port),
        *_service("authz", authz_port),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": "default"},
            "data": {"ca.crt": ca.pem},
        },
        {
            "apiVersion": GW,
            "kind": "BackendTLSPolicy",
            "metadata": {"name": "authz-tls", "namespace": "default"},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "authz"}],
                "validation": {
                    "hostname": "authz.internal",
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
                },
            },
        },
        _route("ext", "/ext"),
        _policy(
            "ext",
            "ext",
            extAuth={"http": {"backendRefs": [{"name": "authz", "port": 80}]}, "headersToExtAuth": ["x-allow"]},
        ),
    ]
    server.bus.publish(GROUP, XdsTranslator().apply(gateway_ir(documents)).resources)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="ext-auth-tls"),
            aiohttp.ClientSession() as s,
        ):

            async def status(**headers: str) -> int:
                try:
                    async with s.get(base + "/ext", headers=headers, timeout=aiohttp.ClientTimeout(total=3)) as r:
                        return r.status
                except aiohttp.ClientError:
                    return 0

            async def allowed() -> bool:
                return await status(**{"x-allow": "yes"}) == 200

            await eventually(allowed, what="ext auth over TLS through Envoy")
            assert await status() == 403
            assert set(seen) == {"https"}
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
        await authz_runner.cleanup()
