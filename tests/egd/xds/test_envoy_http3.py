"""End to end with a real Envoy and a real HTTP/3 client (aioquic): a ClientTrafficPolicy with `http3` makes
Envoy serve the HTTPS listener's routes over QUIC on the same port, advertised by `alt-svc` over TCP; deleting
the policy takes the QUIC listener away live, without restarting Envoy."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from egd.natsserver import pick_free_port
from tests.egd.pki import CA
from tests.egd.serving import PolicyBackend, eventually
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import Envoy, run_envoy
from tests.egd.xds.gateway_documents import (
    GATEWAY,
    GW_API,
    NAMESPACE,
    GatewayFeed,
    ca_config_map,
    client_traffic_policy,
    eg_backend,
    gateway,
    https_listener,
    tls_secret,
)
from tests.egd.xds.http3 import Http3Response, http3_get

pytestmark = pytest.mark.slow
HOSTNAME = "h3.example.com"


def documents(
    port: int, backend: PolicyBackend, certificate: tuple[str, str], policy: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """An HTTPS listener routing to `backend`, and a ClientTrafficPolicy on its Gateway with `policy` as spec."""
    chain, key = certificate
    found: list[dict[str, Any]] = [
        *gateway([https_listener(port, HOSTNAME)]),
        tls_secret("cert", chain, key),
        eg_backend(backend.name, backend.port),
        {
            "apiVersion": GW_API,
            "kind": "HTTPRoute",
            "metadata": {"name": "app", "namespace": NAMESPACE},
            "spec": {
                "parentRefs": [{"name": GATEWAY}],
                "rules": [
                    {"backendRefs": [{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": backend.name}]}
                ],
            },
        },
    ]
    if policy is not None:
        found.append(client_traffic_policy("client", **policy))
    return found


async def listener_names(envoy: Envoy) -> set[str]:
    """The listeners Envoy serves now (warming, active or draining: not yet removed)."""
    return {str(x["name"]) for x in await envoy.config_dump("dynamic_listeners")}


async def test_http3_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    ca = CA()
    certificate = ca.issue(HOSTNAME)
    backend = PolicyBackend("h3-backend")
    await backend.start()
    port = pick_free_port()
    feed = GatewayFeed(server.bus)
    feed.publish(documents(port, backend, certificate, {"http3": {}}))
    https = {"ssl": ssl.create_default_context(cadata=ca.pem), "server_hostname": HOSTNAME}
    url = f"https://127.0.0.1:{port}/hello"

    async def over_tcp(session: aiohttp.ClientSession) -> tuple[int, str | None]:
        try:
            async with session.get(
                url, headers={"Host": HOSTNAME}, timeout=aiohttp.ClientTimeout(total=5), **https
            ) as r:
                return r.status, r.headers.get("alt-svc")
        except (aiohttp.ClientError, OSError):
            return 0, None

    async def over_quic() -> Http3Response | None:
        try:
            return await http3_get("127.0.0.1", port, "/hello", server_name=HOSTNAME, ca_pem=ca.pem)
        except (TimeoutError, ConnectionError, OSError):
            return None

    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="http3") as envoy,
            aiohttp.ClientSession() as session,
        ):

            async def advertised() -> bool:
                return await over_tcp(session) == (200, f'h3=":{port}"; ma=86400')

            await eventually(advertised, what="HTTPS over TCP, advertising HTTP/3 with alt-svc")

            async def served_over_quic() -> bool:
                response = await over_quic()
                return response is not None and response.status == 200

            await eventually(served_over_quic, what="an HTTP/3 GET over QUIC")
            response = await over_quic()
            assert response is not None
            assert response.body == b'{"backend": "h3-backend"}'
            assert response.headers["alt-svc"] == f'h3=":{port}"; ma=86400'  # one route configuration for both
            assert backend.hits["/hello"] >= 2
            assert recorded.nacks == []

            quic = f"{GROUP}/quic/127.0.0.1/{port}"
            assert quic in await listener_names(envoy)

            # deleting the policy removes the QUIC listener live: Envoy stops answering on UDP
            feed.publish(documents(port, backend, certificate, None))

            async def not_advertised() -> bool:
                return await over_tcp(session) == (200, None)

            await eventually(not_advertised, what="alt-svc gone")

            async def quic_gone() -> bool:
                return quic not in await listener_names(envoy)

            await eventually(quic_gone, what="the QUIC listener removed from Envoy")

            async def not_served_over_quic() -> bool:
                return await over_quic() is None

            await eventually(not_served_over_quic, within=10, what="no answer over QUIC")
            assert await over_tcp(session) == (200, None)  # the same Envoy still serves HTTPS over TCP
            assert await listener_names(envoy) == {f"{GROUP}/tcp/127.0.0.1/{port}"}
            assert recorded.nacks == []
    finally:
        await backend.stop()


async def test_http3_keeps_client_certificate_validation(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    """mTLS from the same policy holds over QUIC too: HTTP/3 is no way around it."""
    ca = CA()
    backend = PolicyBackend("h3-mtls-backend")
    await backend.start()
    port = pick_free_port()
    client_certificate = ca.issue_to(tmp_path, "client", "client")
    policy = {"http3": {}, "tls": {"clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "ca"}]}}}
    GatewayFeed(server.bus).publish(
        [*documents(port, backend, ca.issue(HOSTNAME), policy), ca_config_map("ca", ca.pem)]
    )

    async def over_quic(certificate: tuple[Path, Path] | None) -> int:
        try:
            response = await http3_get(
                "127.0.0.1", port, "/", server_name=HOSTNAME, ca_pem=ca.pem, client_certificate=certificate
            )
        except (TimeoutError, ConnectionError, OSError):
            return 0
        return response.status

    try:
        async with run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="http3-mtls"):

            async def served_with_certificate() -> bool:
                return await over_quic(client_certificate) == 200

            await eventually(served_with_certificate, what="an HTTP/3 GET with a client certificate")
            assert await over_quic(None) == 0
            assert recorded.nacks == []
    finally:
        await backend.stop()
