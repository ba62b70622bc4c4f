"""End to end through a real Envoy, more SecurityPolicy: authorization by the client address that
X-Forwarded-For gives (a ClientTrafficPolicy trusting one hop), the request body sent to an HTTP external
authorization service, a remote JWKS fetched through a Service (remoteJWKS.backendRefs) and the route picked
again from a verified claim (recomputeRoute), basic auth
forwarding the username, and OIDC up to the redirect to the provider (deny-redirect and pass-through
matchers too, and logging out at the provider's end session endpoint); then policies changed, seen by the
same Envoy without a restart."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from tests.egd.pki import CA, Signer
from tests.egd.serving import echoing, eventually, http_app, request_status, start_http_app
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    EG,
    GATEWAY_API_GROUP,
    GW_API,
    GatewayFeed,
    ca_config_map,
    gateway,
    htpasswd_secret,
    http_listener,
    security_policy,
    service,
    service_route,
)

pytestmark = pytest.mark.slow
AUTHORIZE = "https://idp.egd.test/oauth2/authorize"
END_SESSION = "https://idp.egd.test/oauth2/logout"
JWKS_URI = "http://jwks.egd.test/keys"  # a host no DNS knows: the keys come through the Service


def documents(ports: dict[str, int], jwks_issuer: str, *, allowed: str, deny_redirect: str) -> list[Any]:
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
    who = security_policy("who", "who", jwt=recomputing)
    who["spec"]["targetRefs"].append({"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "name": "who-bob"})
    return [
        *gateway([http_listener(ports["http"])]),
        {
            "apiVersion": EG,
            "kind": "ClientTrafficPolicy",
            "metadata": {"name": "xff", "namespace": "default"},
            "spec": {
                "targetRefs": [{"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": "eg"}],
                "clientIPDetection": {"xForwardedFor": {"numTrustedHops": 1}},
            },
        },
        *service("app", ports["app"]),
        *service("bob", ports["bob"]),
        *service("authz", ports["authz"]),
        *service("jwks", ports["jwks"]),
        htpasswd_secret("users", "alice", "open-sesame"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "oidc-client", "namespace": "default"},
            "stringData": {"client-secret": "s3cr3t"},
        },
        service_route("internal", "/internal"),
        service_route("body", "/body"),
        service_route("jwt", "/jwt"),
        # a token for bob is served by bob's backend: the route is picked again with the subject in a header
        service_route("who", "/who"),
        service_route(
            "who-bob",
            "/who",
            matches=[{"path": {"type": "PathPrefix", "value": "/who"}, "headers": [{"name": "x-sub", "value": "bob"}]}],
            backendRefs=[{"name": "bob", "port": 80}],
        ),
        service_route("basic", "/basic"),
        service_route("app", "/app"),
        security_policy(
            "internal",
            "internal",
            authorization={
                "defaultAction": "Deny",
                "rules": [{"action": "Allow", "principal": {"clientCIDRs": [allowed]}}],
            },
        ),
        security_policy(
            "body",
            "body",
            extAuth={
                "http": {"backendRefs": [{"name": "authz", "port": 80}]},
                "bodyToExtAuth": {"maxRequestBytes": 1024},
            },
        ),
        security_policy("jwt", "jwt", jwt=jwt),
        who,
        security_policy("basic", "basic", basicAuth={"users": {"name": "users"}, "forwardUsernameHeader": "x-user"}),
        security_policy(
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

    async with http_app(check) as port:
        yield port


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[Signer, int, list[str]]]:
    """A JWKS served over plain HTTP at /keys, recording the Host of each fetch."""
    signer = Signer()
    hosts: list[str] = []

    async def keys(request: web.Request) -> web.Response:
        hosts.append(request.host)
        return web.Response(text=signer.jwks, content_type="application/json")

    async with http_app(keys, method="GET", path="/keys") as port:
        yield signer, port, hosts


async def test_more_security_policies_through_real_envoy(
    server: Server,
    recorded: Recorded,
    body_authz: int,
    jwks_server: tuple[Signer, int, list[str]],
    tmp_path: Path,
) -> None:
    signer, jwks_port, jwks_hosts = jwks_server
    app_runner, app_port = await start_http_app(echoing("app"))
    bob_runner, bob_port = await start_http_app(echoing("bob"))
    ports = {"http": pick_free_port(), "app": app_port, "bob": bob_port, "authz": body_authz, "jwks": jwks_port}
    issuer = "https://issuer.egd.test"
    feed = GatewayFeed(server.bus)
    feed.publish(documents(ports, issuer, allowed="203.0.113.0/24", deny_redirect="XMLHttpRequest"))
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="security-extras"),
            aiohttp.ClientSession() as s,
        ):

            async def status(path: str, method: str = "GET", **options: Any) -> int:
                return await request_status(s, method, base + path, allow_redirects=False, **options)

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
            basic = {"Authorization": aiohttp.encode_basic_auth("alice", "open-sesame")}
            async with s.get(base + "/basic", headers=basic) as response:
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
            feed.publish(documents(ports, issuer, allowed="198.51.100.0/24", deny_redirect="fetch"))

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
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*ca.issue_to(tmp_path, "authz", "authz.internal"))
    seen: list[str] = []

    async def check(request: web.Request) -> web.Response:
        seen.append(request.scheme)
        return web.Response(status=200 if request.headers.get("x-allow") == "yes" else 403)

    authz_runner, authz_port = await start_http_app(check, ssl_context=context)
    app_runner, app_port = await start_http_app(echoing("app"))
    port = pick_free_port()
    documents = [
        *gateway([http_listener(port)]),
        *service("app", app_port),
        *service("authz", authz_port),
        ca_config_map("ca", ca.pem),
        {
            "apiVersion": GW_API,
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
        service_route("ext", "/ext"),
        security_policy(
            "ext",
            "ext",
            extAuth={"http": {"backendRefs": [{"name": "authz", "port": 80}]}, "headersToExtAuth": ["x-allow"]},
        ),
    ]
    GatewayFeed(server.bus).publish(documents)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="ext-auth-tls"),
            aiohttp.ClientSession() as s,
        ):

            async def status(**headers: str) -> int:
                return await request_status(s, "GET", base + "/ext", headers=headers)

            async def allowed() -> bool:
                return await status(**{"x-allow": "yes"}) == 200

            await eventually(allowed, what="ext auth over TLS through Envoy")
            assert await status() == 403
            assert set(seen) == {"https"}
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
        await authz_runner.cleanup()
