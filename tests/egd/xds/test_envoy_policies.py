"""End to end with a real Envoy: BackendTrafficPolicy (retries, timeouts, fault injection, consistent hashing,
outlier detection), ClientTrafficPolicy (mTLS) and BackendTLSPolicy (an HTTPS backend with a test CA) change
what Envoy does; a policy change or deletion is pushed live, as only the resources it affects."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egd.natsserver import pick_free_port
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.ir import GatewayIR
from projections.xds.resources import CLUSTER, VIRTUAL_HOST
from projections.xds.translate import XdsTranslator
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.test_envoy_delta import eventually

pytestmark = pytest.mark.slow
NAMESPACE, GATEWAY = GROUP.split("/")
EG = "gateway.envoyproxy.io/v1alpha1"
GW_API = "gateway.networking.k8s.io/v1"


# --- certificates --------------------------------------------------------------------------------------------


class CA:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egd test CA")])
        self.certificate = (
            self._builder(name, name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, hostname: str) -> tuple[str, str]:
        """(certificate PEM, key PEM) for `hostname`, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
        certificate = (
            self._builder(name, self.certificate.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


# --- backends ------------------------------------------------------------------------------------------------


class Backend:
    """An aiohttp backend: `/flaky` fails twice then answers, `/slow` sleeps, everything else echoes its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: dict[str, int] = {}
        self.failing = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if self.failing:
            return web.Response(status=503, text="failing")
        if request.path.startswith("/flaky") and self.hits[request.path] % 3 != 0:
            return web.Response(status=503, text="flaky")
        if request.path.startswith("/slow"):
            await asyncio.sleep(1.0)
        return web.json_response({"backend": self.name})

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = pick_free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ssl_context).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, Backend]]:
    found = {name: Backend(name) for name in ("one", "two")}
    for backend in found.values():
        await backend.start()
    try:
        yield found
    finally:
        for backend in found.values():
            await backend.stop()


# --- documents -----------------------------------------------------------------------------------------------


def _base(listeners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": GW_API,
            "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
        },
        {
            "apiVersion": GW_API,
            "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": "eg",
                "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                "listeners": listeners,
            },
        },
    ]


def _backend(name: str, *ports: int) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "Backend",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"endpoints": [{"ip": {"address": "127.0.0.1", "port": p}} for p in ports]},
    }


def _route(name: str, path: str, backend: str, kind: str = "Backend", port: int | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"group": "gateway.envoyproxy.io" if kind == "Backend" else "", "kind": kind, "name": backend}
    if port is not None:
        ref["port"] = port
    return {
        "apiVersion": GW_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": [ref]}],
        },
    }


def _btp(name: str, route: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": EG,
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}], **spec},
    }


def gateway_ir(documents: list[dict[str, Any]]) -> GatewayIR:
    translation = translate(resources_from_documents([(d, f"document {i}") for i, d in enumerate(documents)]))
    return translation.gateways[GROUP]


async def get(session: aiohttp.ClientSession, url: str, **options: Any) -> tuple[int, dict[str, Any]]:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5), **options) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, body
    except (aiohttp.ClientError, ssl.SSLError, ConnectionError):
        return 0, {}


# --- tests ---------------------------------------------------------------------------------------------------


async def test_backend_traffic_policy_through_real_envoy(
    server: Server, recorded: Recorded, backends: dict[str, Backend], tmp_path: Path
) -> None:
    one, two = backends["one"], backends["two"]
    port = pick_free_port()
    routes = [
        _route("retried", "/flaky", "one-only"),
        _route("slow", "/slow", "one-only"),
        _route("faulty", "/fault", "one-only"),
        _route("sticky", "/sticky", "both"),
        _route("ejecting", "/eject", "both"),
        _route("plain", "/plain", "one-only"),
    ]
    policies = [
        _btp("retries", "retried", retry={"numRetries": 3, "retryOn": {"httpStatusCodes": [503]}}),
        _btp("timeout", "slow", timeout={"http": {"requestTimeout": "200ms"}}),
        _btp("fault", "faulty", faultInjection={"abort": {"httpStatus": 418}}),
        _btp(
            "sticky",
            "sticky",
            loadBalancer={"type": "ConsistentHash", "consistentHash": {"type": "Header", "header": {"name": "x-user"}}},
        ),
        _btp(
            "eject",
            "ejecting",
            healthCheck={
                "passive": {
                    "consecutive5XxErrors": 1,
                    "interval": "100ms",
                    "baseEjectionTime": "30s",
                    "maxEjectionPercent": 100,
                }
            },
        ),
    ]
    documents = [
        *_base([{"name": "http", "protocol": "HTTP", "port": port}]),
        _backend("one-only", one.port),
        _backend("both", one.port, two.port),
        *routes,
        *policies,
    ]
    translator = XdsTranslator()
    server.bus.publish(GROUP, translator.update(gateway_ir(documents)))
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="policies"),
        aiohttp.ClientSession() as session,
    ):

        async def serving() -> bool:
            return (await get(session, f"{base}/plain"))[0] == 200

        await eventually(serving, what="traffic through Envoy")
        assert recorded.nacks == []

        # retries: the backend fails twice, the third attempt answers
        assert (await get(session, f"{base}/flaky/a"))[0] == 200
        assert one.hits["/flaky/a"] == 3

        # timeout: the backend takes 1 s, the policy allows 200 ms
        assert (await get(session, f"{base}/slow"))[0] == 504

        # fault injection: the configured status, the backend never asked
        assert (await get(session, f"{base}/fault"))[0] == 418
        assert "/fault" not in one.hits

        # consistent hashing by header: one user sticks to one backend
        for user in ("alice", "bob", "carol"):
            seen = {
                (await get(session, f"{base}/sticky", headers={"x-user": user}))[1].get("backend") for _ in range(8)
            }
            assert len(seen) == 1, (user, seen)

        # outlier detection: a failing endpoint is ejected, the other one serves everything
        two.failing = True
        statuses = [(await get(session, f"{base}/eject"))[0] for _ in range(10)]
        assert statuses.count(503) <= 2, statuses
        assert statuses[-5:] == [200] * 5
        two.failing = False

        # a policy change is pushed live, as only the resources it affects: the fault's route configuration
        pushed_before = len(recorded.responses)
        changed = [p for p in policies if p["metadata"]["name"] != "fault"]
        changed.append(_btp("fault", "faulty", faultInjection={"abort": {"httpStatus": 429}}))
        server.bus.publish(GROUP, translator.update(gateway_ir([*documents[: -len(policies)], *changed])))

        async def aborts_429() -> bool:
            return (await get(session, f"{base}/fault"))[0] == 429

        await eventually(aborts_429, what="the changed fault")
        pushed = [sent for _, sent in recorded.responses[pushed_before:]]
        assert {p.type_url for p in pushed} == {VIRTUAL_HOST}  # the route's virtual host, over VHDS
        assert sum(p.resources for p in pushed) == 1

        # deleting the retry policy: its route's cluster goes back to the plain one, retries stop
        pushed_before = len(recorded.responses)
        without = [p for p in changed if p["metadata"]["name"] != "retries"]
        server.bus.publish(GROUP, translator.update(gateway_ir([*documents[: -len(policies)], *without])))

        async def no_retries() -> bool:
            return (await get(session, f"{base}/flaky/b"))[0] == 503

        await eventually(no_retries, what="retries gone")
        pushed = [sent for _, sent in recorded.responses[pushed_before:]]
        assert {p.type_url for p in pushed} <= {VIRTUAL_HOST, CLUSTER}
        assert recorded.nacks == []


async def test_client_and_backend_tls_policies_through_real_envoy(
    server: Server, recorded: Recorded, tmp_path: Path
) -> None:
    ca = CA()
    server_cert, server_key = ca.issue("secure.example.com")
    backend_cert, backend_key = ca.issue("backend.internal")
    client_cert, client_key = ca.issue("client")
    backend_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (tmp_path / "backend.crt").write_text(backend_cert)
    (tmp_path / "backend.key").write_text(backend_key)
    backend_context.load_cert_chain(tmp_path / "backend.crt", tmp_path / "backend.key")
    backend = Backend("tls-backend")
    await backend.start(backend_context)
    port = pick_free_port()
    documents = [
        *_base(
            [
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": port,
                    "hostname": "secure.example.com",
                    "tls": {"certificateRefs": [{"name": "cert"}]},
                }
            ]
        ),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cert", "namespace": NAMESPACE},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": server_cert, "tls.key": server_key},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": NAMESPACE},
            "data": {"ca.crt": ca.pem},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "tls-backend", "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "https", "port": 443}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "tls-backend",
                "namespace": NAMESPACE,
                "labels": {"kubernetes.io/service-name": "tls-backend"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": backend.port}],
            "endpoints": [{"addresses": ["127.0.0.1"]}],
        },
        _route("app", "/", "tls-backend", kind="Service", port=443),
        {
            "apiVersion": GW_API,
            "kind": "BackendTLSPolicy",
            "metadata": {"name": "backend-tls", "namespace": NAMESPACE},
            "spec": {
                "targetRefs": [{"group": "", "kind": "Service", "name": "tls-backend", "sectionName": "https"}],
                "validation": {
                    "hostname": "backend.internal",
                    "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
                },
            },
        },
        {
            "apiVersion": EG,
            "kind": "ClientTrafficPolicy",
            "metadata": {"name": "mtls", "namespace": NAMESPACE},
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}],
                "tls": {
                    "minVersion": "1.2",
                    "clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "ca"}]},
                },
            },
        },
    ]
    translator = XdsTranslator()
    server.bus.publish(GROUP, translator.update(gateway_ir(documents)))
    (tmp_path / "client.crt").write_text(client_cert)
    (tmp_path / "client.key").write_text(client_key)
    with_cert = ssl.create_default_context(cadata=ca.pem)
    with_cert.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    without_cert = ssl.create_default_context(cadata=ca.pem)
    url = f"https://127.0.0.1:{port}/"
    options = {"server_hostname": "secure.example.com", "headers": {"Host": "secure.example.com"}}
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="tls-policies"),
            aiohttp.ClientSession() as session,
        ):

            async def serving() -> bool:
                return (await get(session, url, ssl=with_cert, **options))[0] == 200

            await eventually(serving, what="mTLS traffic through Envoy to the HTTPS backend")
            # BackendTLSPolicy: Envoy reached the HTTPS backend, verified with the test CA
            status, body = await get(session, url, ssl=with_cert, **options)
            assert (status, body.get("backend")) == (200, "tls-backend")
            # ClientTrafficPolicy mTLS: a client without a certificate is refused
            assert (await get(session, url, ssl=without_cert, **options))[0] == 0
            assert recorded.nacks == []

            # deleting the ClientTrafficPolicy lifts mTLS without restarting Envoy
            server.bus.publish(GROUP, translator.update(gateway_ir(documents[:-1])))

            async def open_to_all() -> bool:
                return (await get(session, url, ssl=without_cert, **options))[0] == 200

            await eventually(open_to_all, what="mTLS lifted")
            assert recorded.nacks == []
    finally:
        await backend.stop()
