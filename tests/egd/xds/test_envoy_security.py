"""End to end through a real Envoy: SecurityPolicy (basic auth, API key, JWT with a local JWKS, CORS, IP deny,
external authorization to a local HTTP service), an HTTPRouteFilter direct response and an EnvoyPatchPolicy;
then a policy deleted and another changed, seen by the same Envoy without a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from egd.natsserver import pick_free_port
from projections.gatewayapi.options import TranslateOptions
from tests.egd.pki import ISSUER, Signer
from tests.egd.serving import echoing, eventually, http_app, request_status, start_http_app
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    EG,
    GatewayFeed,
    gateway,
    htpasswd_secret,
    http_listener,
    security_policy,
    service,
    service_route,
)

pytestmark = pytest.mark.slow


def documents(ports: dict[str, int], jwks: str, *, with_basic: bool = True, deny: str = "127.0.0.0/8") -> list[Any]:
    docs: list[Any] = [
        *gateway([http_listener(ports["http"])]),
        *service("app", ports["app"]),
        *service("authz", ports["authz"]),
        htpasswd_secret("users", "alice", "open-sesame"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "keys", "namespace": "default"},
            "stringData": {"client-a": "key-a"},
        },
        service_route("basic", "/basic"),
        service_route("apikey", "/apikey"),
        service_route("jwt", "/jwt"),
        service_route("cors", "/cors"),
        service_route("deny", "/deny"),
        service_route("ext", "/ext"),
        service_route(
            "direct",
            "/direct",
            backendRefs=[],
            filters=[
                {
                    "type": "ExtensionRef",
                    "extensionRef": {"group": EG.split("/")[0], "kind": "HTTPRouteFilter", "name": "teapot"},
                }
            ],
        ),
        {
            "apiVersion": EG,
            "kind": "HTTPRouteFilter",
            "metadata": {"name": "teapot", "namespace": "default"},
            "spec": {
                "directResponse": {
                    "statusCode": 418,
                    "contentType": "text/plain",
                    "body": {"type": "Inline", "inline": "short and stout"},
                }
            },
        },
        security_policy(
            "apikey",
            "apikey",
            apiKeyAuth={"credentialRefs": [{"name": "keys"}], "extractFrom": [{"headers": ["x-api-key"]}]},
        ),
        security_policy(
            "jwt",
            "jwt",
            jwt={
                "providers": [
                    {
                        "name": "local",
                        "issuer": ISSUER,
                        "localJWKS": {"type": "Inline", "inline": jwks},
                        "claimToHeaders": [{"header": "x-sub", "claim": "sub"}],
                    }
                ]
            },
        ),
        security_policy(
            "cors",
            "cors",
            cors={"allowOrigins": ["https://*.example.com"], "allowMethods": ["GET", "PUT"], "maxAge": "10m"},
        ),
        security_policy(
            "deny",
            "deny",
            authorization={
                "defaultAction": "Allow",
                "rules": [{"action": "Deny", "principal": {"clientCIDRs": [deny]}}],
            },
        ),
        security_policy(
            "ext",
            "ext",
            extAuth={
                "http": {"backendRefs": [{"name": "authz", "port": 80}], "headersToBackend": ["x-user"]},
                "headersToExtAuth": ["x-allow"],
            },
        ),
        {
            "apiVersion": EG,
            "kind": "EnvoyPatchPolicy",
            "metadata": {"name": "header", "namespace": "default"},
            "spec": {
                "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"},
                "type": "JSONPatch",
                "jsonPatches": [
                    {
                        "type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
                        "name": f"default/eg/http/{ports['http']}",
                        "operation": {
                            "op": "add",
                            "path": "/response_headers_to_add",
                            "value": [{"header": {"key": "x-patched", "value": "yes"}}],
                        },
                    }
                ],
            },
        },
    ]
    if with_basic:
        docs.append(security_policy("basic", "basic", basicAuth={"users": {"name": "users"}}))
    return docs


@pytest.fixture
async def authz() -> AsyncIterator[int]:
    """An external authorization service: allows requests with `x-allow: yes`, naming the user upstream."""

    async def check(request: web.Request) -> web.Response:
        if request.headers.get("x-allow") == "yes":
            return web.Response(status=200, headers={"x-user": "carol"})
        return web.Response(status=403, text="denied by authz")

    async with http_app(check) as port:
        yield port


async def test_security_policies_through_real_envoy(
    server: Server, recorded: Recorded, authz: int, tmp_path: Path
) -> None:
    app_runner, app_port = await start_http_app(echoing("app"))
    signer = Signer()
    ports = {"http": pick_free_port(), "app": app_port, "authz": authz}
    feed = GatewayFeed(server.bus, TranslateOptions(envoy_patch_policy=True))
    update = feed.publish(documents(ports, signer.jwks))
    assert update.patch_outcomes == {"default/header": None}
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="security"),
            aiohttp.ClientSession() as s,
        ):

            async def status(path: str, method: str = "GET", **options: Any) -> int:
                return await request_status(s, method, base + path, **options)

            async def ready() -> bool:
                return await status("/apikey", headers={"x-api-key": "key-a"}) == 200

            await eventually(ready, what="the API key route through Envoy")
            assert recorded.nacks == []

            # basic auth: 401 without or with wrong credentials, 200 with
            assert await status("/basic") == 401
            assert await status("/basic", headers={"Authorization": aiohttp.encode_basic_auth("alice", "wrong")}) == 401
            assert (
                await status("/basic", headers={"Authorization": aiohttp.encode_basic_auth("alice", "open-sesame")})
                == 200
            )
            # API key
            assert await status("/apikey") == 401
            assert await status("/apikey", headers={"x-api-key": "nope"}) == 401
            # JWT with a local JWKS; the subject claim forwarded as a header
            good = signer.token({"sub": "bob"})
            assert await status("/jwt") == 401
            assert await status("/jwt", headers={"Authorization": "Bearer " + good[:-4] + "AAAA"}) == 401
            async with s.get(base + "/jwt", headers={"Authorization": f"Bearer {good}"}) as response:
                assert response.status == 200
                assert {k.lower(): v for k, v in (await response.json())["headers"].items()}.get("x-sub") == "bob"
            # CORS preflight
            preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"}
            async with s.options(base + "/cors", headers=preflight) as response:
                assert response.headers.get("access-control-allow-origin") == "https://app.example.com"
                assert "PUT" in response.headers.get("access-control-allow-methods", "")
                assert response.headers.get("access-control-max-age") == "600"
            async with s.options(base + "/cors", headers={**preflight, "Origin": "https://evil.test"}) as response:
                assert "access-control-allow-origin" not in response.headers
            # IP deny: the client is 127.0.0.1
            assert await status("/deny") == 403
            # external authorization, with the user it names sent upstream
            assert await status("/ext") == 403
            async with s.get(base + "/ext", headers={"x-allow": "yes"}) as response:
                assert response.status == 200
                assert {k.lower(): v for k, v in (await response.json())["headers"].items()}.get("x-user") == "carol"
            # HTTPRouteFilter direct response, and the EnvoyPatchPolicy's header on every response
            async with s.get(base + "/direct") as response:
                assert (response.status, await response.text()) == (418, "short and stout")
                assert response.headers["content-type"] == "text/plain"
                assert response.headers.get("x-patched") == "yes"

            # the basic auth policy deleted and the deny rule changed: the same Envoy follows
            feed.publish(documents(ports, signer.jwks, with_basic=False, deny="192.0.2.0/24"))

            async def opened() -> bool:
                return await status("/basic") == 200 and await status("/deny") == 200

            await eventually(opened, what="the policy changes")
            assert await status("/apikey") == 401  # the others hold
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
