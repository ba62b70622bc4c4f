"""End to end: Gateway API documents -> translator -> IR -> XdsTranslator -> ADS server -> a real Envoy 1.40,
with real HTTP, HTTPS (a self-signed certificate from a Secret, chosen by SNI) and TCP traffic to local backends."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egd.natsserver import pick_free_port
from projections.ir import Certificate, GatewayIR, hashed
from projections.xds.resources import CLUSTER, LISTENER, VIRTUAL_HOST
from projections.xds.translate import build_resource_set
from tests.egd.serving import echo_backends, eventually
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import GW_API, GatewayFeed, gateway, https_listener, service
from tests.projections.xds.test_translate_golden import CASE_NAMES, CASES, gateways_of

pytestmark = pytest.mark.slow
SECURE_HOST = "secure.example.com"


async def start_tcp_echo(prefix: bytes = b"echo:") -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(1024)
        writer.write(prefix + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


def self_signed(hostname: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def _rule(path: str, *backends: tuple[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": path}, **extra.pop("match", {})}],
        "backendRefs": [{"name": name, "port": 80, "weight": weight} for name, weight in backends],
        **extra,
    }


def documents(ports: dict[str, int], certificate: tuple[bytes, bytes], alpha_path: str = "/alpha") -> list[Any]:
    listeners = [
        {"name": "http", "protocol": "HTTP", "port": ports["http"]},
        https_listener(ports["https"], SECURE_HOST, "secure-cert"),
        {"name": "tcp", "protocol": "TCP", "port": ports["tcp"], "allowedRoutes": {"kinds": [{"kind": "TCPRoute"}]}},
    ]
    http_rules = [
        _rule(alpha_path, ("alpha", 1)),
        _rule("/pick", ("beta", 1), match={"headers": [{"name": "x-pick", "value": "beta"}]}),
        _rule("/pick", ("alpha", 1)),
        _rule("/split", ("alpha", 1), ("beta", 1)),
        _rule("/missing", ("nowhere", 1)),
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
            "filters": [
                {"type": "RequestRedirect", "requestRedirect": {"hostname": "new.example.com", "statusCode": 301}}
            ],
        },
        _rule(
            "/headers",
            ("alpha", 1),
            filters=[
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {"set": [{"name": "x-added", "value": "1"}]},
                },
                {
                    "type": "ResponseHeaderModifier",
                    "responseHeaderModifier": {"add": [{"name": "x-response", "value": "yes"}]},
                },
            ],
        ),
    ]
    chain, key = certificate
    return [
        *gateway(listeners),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "secure-cert", "namespace": "default"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(chain).decode(), "tls.key": base64.b64encode(key).decode()},
        },
        *service("alpha", ports["alpha"]),
        *service("beta", ports["beta"]),
        *service("echo", ports["echo"]),
        {
            "apiVersion": GW_API,
            "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "eg", "sectionName": "http"}], "rules": http_rules},
        },
        {
            "apiVersion": GW_API,
            "kind": "HTTPRoute",
            "metadata": {"name": "secure", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "eg", "sectionName": "https"}], "rules": [_rule("/", ("beta", 1))]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "TCPRoute",
            "metadata": {"name": "tcp", "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": "eg", "sectionName": "tcp"}],
                "rules": [{"backendRefs": [{"name": "echo", "port": 80}]}],
            },
        },
    ]


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    async with echo_backends("alpha", "beta") as ports:
        echo, echo_port = await start_tcp_echo()
        try:
            yield {**ports, "echo": echo_port}
        finally:
            echo.close()
            await echo.wait_closed()


async def fetch(
    session: aiohttp.ClientSession, port: int, path: str, **options: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        async with session.get(
            f"http://127.0.0.1:{port}{path}",
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=3),
            **options,
        ) as response:
            body = await response.text()
            parsed = json.loads(body) if response.content_type == "application/json" else {}
            return response.status, parsed, dict(response.headers)
    except aiohttp.ClientError:
        return 0, {}, {}


async def test_gateway_api_through_real_envoy(
    server: Server, recorded: Recorded, backends: dict[str, int], tmp_path: Path
) -> None:
    ports = {**backends, "http": pick_free_port(), "https": pick_free_port(), "tcp": pick_free_port()}
    certificate = self_signed(SECURE_HOST)
    feed = GatewayFeed(server.bus)
    feed.publish(documents(ports, certificate))
    http = ports["http"]
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="gwapi") as _,
        aiohttp.ClientSession() as s,
    ):

        async def backend_of(path: str, **options: Any) -> str | None:
            return (await fetch(s, http, path, **options))[1].get("backend")

        async def serves_alpha() -> bool:
            return await backend_of("/alpha/x") == "alpha"

        await eventually(serves_alpha, what="HTTP traffic through Envoy")
        assert recorded.nacks == []

        # path prefix and header matches
        assert await backend_of("/pick") == "alpha"
        assert await backend_of("/pick", headers={"x-pick": "beta"}) == "beta"
        assert (await fetch(s, http, "/alphabet"))[0] == 404  # prefixes match whole path elements
        # weighted split: both backends answer
        seen = [await backend_of("/split") for _ in range(40)]
        assert {"alpha", "beta"} <= set(seen)
        assert 5 <= seen.count("alpha") <= 35
        # redirect
        status, _, headers = await fetch(s, http, "/old/page")
        assert status == 301
        assert headers["Location"].startswith("http://new.example.com")
        # header modifiers, both ways
        status, body, headers = await fetch(s, http, "/headers")
        assert body["headers"].get("x-added") == "1"
        assert headers.get("x-response") == "yes"
        # a backend that does not exist answers 500
        assert (await fetch(s, http, "/missing"))[0] == 500

        # HTTPS: the certificate from the Secret, chosen by SNI
        context = ssl.create_default_context(cadata=certificate[0].decode())
        async with s.get(
            f"https://127.0.0.1:{ports['https']}/",
            ssl=context,
            server_hostname=SECURE_HOST,
            headers={"Host": SECURE_HOST},
            timeout=aiohttp.ClientTimeout(total=3),
        ) as response:
            assert response.status == 200
            assert (await response.json())["backend"] == "beta"

        # TCPRoute
        reader, writer = await asyncio.open_connection("127.0.0.1", ports["tcp"])
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 3) == b"echo:ping"
        writer.close()

        # one route changed: only its virtual host is pushed (VHDS), and traffic follows
        pushed_before = len(recorded.responses)
        feed.publish(documents(ports, certificate, alpha_path="/first"))

        async def moved() -> bool:
            return await backend_of("/first/x") == "alpha"

        await eventually(moved, what="the changed route")
        pushed = recorded.sent_since(pushed_before)
        assert {p.type_url for p in pushed} == {VIRTUAL_HOST}
        assert sum(p.resources for p in pushed) == 1
        assert {CLUSTER, LISTENER} <= {a.type_url for _, a in recorded.acks}
        assert recorded.nacks == []


async def test_a_tls_terminate_listener_routes_each_tlsroute_by_server_name(
    server: Server, recorded: Recorded, tmp_path: Path
) -> None:
    """TLSRoutes on a listener that terminates TLS: one filter chain each, by the route's hostnames, all with the
    listener's certificate (Envoy Gateway's translation); a server name no route has gets no chain."""
    port = pick_free_port()
    certificate = self_signed("*.t.example.com")
    first, first_port = await start_tcp_echo(b"one:")
    second, second_port = await start_tcp_echo(b"two:")

    def tls_route(name: str, hostname: str, backend: str) -> dict[str, Any]:
        return {
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "TLSRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": "eg", "sectionName": "term"}],
                "hostnames": [hostname],
                "rules": [{"backendRefs": [{"name": backend, "port": 80}]}],
            },
        }

    listener = {
        "name": "term",
        "protocol": "TLS",
        "port": port,
        "tls": {"mode": "Terminate", "certificateRefs": [{"name": "term-cert"}]},
    }
    chain, key = certificate
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "term-cert", "namespace": "default"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": base64.b64encode(chain).decode(), "tls.key": base64.b64encode(key).decode()},
    }
    GatewayFeed(server.bus).publish(
        [
            *gateway([listener]),
            secret,
            *service("one", first_port),
            *service("two", second_port),
            tls_route("z-first", "a.t.example.com", "one"),  # sorts after the other: routes were taken by name
            tls_route("a-second", "b.t.example.com", "two"),
        ]
    )
    context = ssl.create_default_context(cadata=chain.decode())

    async def answer(server_name: str) -> bytes:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name)
        except (OSError, ssl.SSLError):
            return b""
        writer.write(b"ping")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(100), 3)
        writer.close()
        return data

    try:
        async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="terminate"):

            async def serving() -> bool:
                return await answer("a.t.example.com") == b"one:ping"

            await eventually(serving, what="TLS terminated and proxied")
            assert await answer("b.t.example.com") == b"two:ping"
            assert await answer("c.t.example.com") == b""
            assert recorded.nacks == []
    finally:
        for echo in (first, second):
            echo.close()
            await echo.wait_closed()


class UdpEcho(asyncio.DatagramProtocol):
    """Answers each datagram with `prefix` + the datagram."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.prefix + data, addr)


async def udp_answer(port: int) -> bytes:
    """One datagram to 127.0.0.1:`port` from a new socket (a new source port: a new session for Envoy's UDP
    proxy, which picks a backend per session); its answer, or b"" after a second."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
            if not answered.done():
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(b"ping")
        return await asyncio.wait_for(answered, 1.0)
    except TimeoutError:
        return b""
    finally:
        transport.close()


async def test_a_udproute_over_two_backends_reaches_both(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    """Envoy's UDP proxy takes one cluster: a UDPRoute over several backends gets a cluster of its own whose
    localities are the backends, weighted as the route weighs them (Envoy Gateway merges them likewise)."""
    loop = asyncio.get_running_loop()
    port = pick_free_port()
    echoes = {}
    for name in ("one", "two"):
        echo_port = pick_free_port()
        transport, _ = await loop.create_datagram_endpoint(
            lambda name=name: UdpEcho(f"{name}:".encode()), local_addr=("127.0.0.1", echo_port)
        )
        echoes[name] = (transport, echo_port)
    documents = [*gateway([{"name": "udp", "protocol": "UDP", "port": port}])]
    for name, (_, echo_port) in echoes.items():
        for document in service(name, echo_port):
            for each in document.get("spec", document).get("ports", []):
                each["protocol"] = "UDP"
            documents.append(document)
    documents.append(
        {
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "UDPRoute",
            "metadata": {"name": "split", "namespace": "default"},
            "spec": {
                "parentRefs": [{"name": "eg", "sectionName": "udp"}],
                "rules": [{"backendRefs": [{"name": "one", "port": 80}, {"name": "two", "port": 80}]}],
            },
        }
    )
    GatewayFeed(server.bus).publish(documents)
    try:
        async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="udp-split"):

            async def serving() -> bool:
                return (await udp_answer(port)).endswith(b":ping")

            await eventually(serving, what="UDP proxied")
            answers = [await udp_answer(port) for _ in range(40)]
            assert {b"one:ping", b"two:ping"} <= set(answers), answers
            assert recorded.nacks == []
    finally:
        for transport, _ in echoes.values():
            transport.close()


def on_loopback(gateway: GatewayIR, ports: dict[int, int], certificate: tuple[bytes, bytes]) -> GatewayIR:
    """`gateway` with every listener on 127.0.0.1, its port mapped through `ports` (free ones), and a real
    certificate in place of the golden files' placeholder PEM (listeners' and the client certificate to
    backends)."""

    def moved(listener: Any) -> Any:
        port = ports.setdefault(listener.port, pick_free_port())
        tls = listener.tls
        if tls is not None:
            real = [
                Certificate(name=c.name, certificate_chain=certificate[0].decode(), private_key=certificate[1].decode())
                for c in tls.certificates
            ]
            tls = msgspec.structs.replace(tls, certificates=tuple(real))
        return hashed(msgspec.structs.replace(listener, address="127.0.0.1", port=port, tls=tls))

    backend_tls = gateway.backend_tls
    client = backend_tls.client_certificate if backend_tls is not None else None
    if backend_tls is not None and client is not None:
        real_client = Certificate(
            name=client.name, certificate_chain=certificate[0].decode(), private_key=certificate[1].decode()
        )
        backend_tls = msgspec.structs.replace(backend_tls, client_certificate=real_client)
    return hashed(
        msgspec.structs.replace(
            gateway,
            http=tuple(moved(x) for x in gateway.http),
            l4=tuple(moved(x) for x in gateway.l4),
            backend_tls=backend_tls,
        )
    )


async def test_envoy_accepts_every_golden_case(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    """Each golden case in turn is the whole configuration of one real Envoy: it ACKs every resource (route
    configurations in their VHDS form, as delta clients are served them)."""
    certificate = self_signed("example.com")
    async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="goldens"):
        for case in CASE_NAMES:
            for gateway in gateways_of(CASES / f"{case}.in.yaml").values():
                resources = build_resource_set(on_loopback(gateway, {}, certificate))
                server.bus.publish(GROUP, resources)
                served = resources.delta_view()
                expected = {t: {n: r.version for n, r in served.of_type(t).items()} for t in served.by_type}

                async def settled(expected: dict[str, dict[str, str]] = expected, case: str = case) -> bool:
                    if recorded.nacks:
                        raise AssertionError(f"{case}: Envoy NACKed {recorded.nacks[0]}")
                    return any(
                        {t: v for t, v in s.acked_versions().items() if v} == expected
                        for s in server.servicer.streams.values()
                    )

                await eventually(settled, within=10, what=f"{case}: every resource ACKed")
