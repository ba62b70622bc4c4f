"""End to end through a real Envoy: SecurityPolicy (basic auth, API key, JWT with a local JWKS, CORS, IP deny,
external authorization to a local HTTP service), an HTTPRouteFilter direct response and an EnvoyPatchPolicy;
then a policy deleted and another changed, seen by the same Envoy without a restart."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from egd.natsserver import pick_free_port
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.translator import translate
from projections.ir import GatewayIR
from projections.xds.translate import XdsTranslator
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.test_envoy_delta import eventually
from tests.egd.xds.test_envoy_gatewayapi import _service, start_http_backend

pytestmark = pytest.mark.slow
GW = "gateway.networking.k8s.io/v1"
EG = "gateway.envoyproxy.io/v1alpha1"
ISSUER = "https://issuer.egd.test"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


class Signer:
    """An RSA key, its JWKS, and RS256 tokens signed with it."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.jwks = json.dumps(
            {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "n": _uint(numbers.n), "e": _uint(numbers.e)}]}
        )

    def token(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k1"}).encode())
        payload = _b64url(json.dumps({"iss": ISSUER, "exp": int(time.time()) + 600, **claims}).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64url(signature)}"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _route(name: str, path: str, **rule: Any) -> dict[str, Any]:
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": path}}], **rule}
    rule.setdefault("backendRefs", [{"name": "app", "port": 80}])
    return {
        "apiVersion": GW,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"parentRefs": [{"name": "eg"}], "rules": [rule]},
    }


def _policy(name: str, route: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "SecurityPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}], **spec},
    }


def documents(ports: dict[str, int], jwks: str, *, with_basic: bool = True, deny: str = "127.0.0.0/8") -> list[Any]:
    sha = base64.b64encode(hashlib.sha1(b"open-sesame").digest()).decode()
    docs: list[Any] = [
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
                "listeners": [{"name": "http", "protocol": "HTTP", "port": ports["http"]}],
            },
        },
        *_service("app", ports["app"]),
        *_service("authz", ports["authz"]),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "users", "namespace": "default"},
            "stringData": {".htpasswd": f"alice:{{SHA}}{sha}\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "keys", "namespace": "default"},
            "stringData": {"client-a": "key-a"},
        },
        _route("basic", "/basic"),
        _route("apikey", "/apikey"),
        _route("jwt", "/jwt"),
        _route("cors", "/cors"),
        _route("deny", "/deny"),
        _route("ext", "/ext"),
        _route(
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
        _policy(
            "apikey",
            "apikey",
            apiKeyAuth={"credentialRefs": [{"name": "keys"}], "extractFrom": [{"headers": ["x-api-key"]}]},
        ),
        _policy(
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
        _policy(
            "cors",
            "cors",
            cors={"allowOrigins": ["https://*.example.com"], "allowMethods": ["GET", "PUT"], "maxAge": "10m"},
        ),
        _policy(
            "deny",
            "deny",
            authorization={
                "defaultAction": "Allow",
                "rules": [{"action": "Deny", "principal": {"clientCIDRs": [deny]}}],
            },
        ),
        _policy(
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
        docs.append(_policy("basic", "basic", basicAuth={"users": {"name": "users"}}))
    return docs


def gateway_ir(docs: list[Any]) -> GatewayIR:
    resources = resources_from_documents([(d, f"document {i}") for i, d in enumerate(docs)])
    return translate(resources, TranslateOptions(envoy_patch_policy=True)).gateways[GROUP]


@pytest.fixture
async def authz() -> AsyncIterator[int]:
    """An external authorization service: allows requests with `x-allow: yes`, naming the user upstream."""

    async def check(request: web.Request) -> web.Response:
        if request.headers.get("x-allow") == "yes":
            return web.Response(status=200, headers={"x-user": "carol"})
        return web.Response(status=403, text="denied by authz")

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


async def test_security_policies_through_real_envoy(
    server: Server, recorded: Recorded, authz: int, tmp_path: Path
) -> None:
    app_runner, app_port = await start_http_backend("app")
    signer = Signer()
    ports = {"http": pick_free_port(), "app": app_port, "authz": authz}
    translator = XdsTranslator()
    update = translator.apply(gateway_ir(documents(ports, signer.jwks)))
    assert update.patch_outcomes == {"default/header": None}
    server.bus.publish(GROUP, update.resources)
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="security"),
            aiohttp.ClientSession() as s,
        ):

            async def status(path: str, method: str = "GET", **options: Any) -> int:
                try:
                    async with s.request(method, base + path, timeout=aiohttp.ClientTimeout(total=3), **options) as r:
                        await r.read()
                        return r.status
                except aiohttp.ClientError:
                    return 0

            async def ready() -> bool:
                return await status("/apikey", headers={"x-api-key": "key-a"}) == 200

            await eventually(ready, what="the API key route through Envoy")
            assert recorded.nacks == []

            # basic auth: 401 without or with wrong credentials, 200 with
            assert await status("/basic") == 401
            assert await status("/basic", headers={"Authorization": _basic("alice", "wrong")}) == 401
            assert await status("/basic", headers={"Authorization": _basic("alice", "open-sesame")}) == 200
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
            update = translator.apply(gateway_ir(documents(ports, signer.jwks, with_basic=False, deny="192.0.2.0/24")))
            server.bus.publish(GROUP, update.resources)

            async def opened() -> bool:
                return await status("/basic") == 200 and await status("/deny") == 200

            await eventually(opened, what="the policy changes")
            assert await status("/apikey") == 401  # the others hold
            assert recorded.nacks == []
    finally:
        await app_runner.cleanup()
