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
from projections.xds.translate import XdsTranslator
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import Envoy, run_envoy
from tests.egd.xds.http3 import Http3Response, http3_get
from tests.egd.xds.test_envoy_delta import eventually
from tests.egd.xds.test_envoy_policies import CA, EG, GW_API, Backend, gateway_ir

pytestmark = pytest.mark.slow
NAMESPACE, GATEWAY = GROUP.split("/")
HOSTNAME = "h3.example.com"


def documents(
    port: int, backend: Backend, certificate: tuple[str, str], policy: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """An HTTPS listener routing to `backend`, and a ClientTrafficPolicy on its Gateway with `policy` as spec."""
    chain, key = certificate
    found: list[dict[str, Any]] = [
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
                "listeners": [
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": port,
                        "hostname": HOSTNAME,
                        "tls": {"certificateRefs": [{"name": "cert"}]},
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cert", "namespace": NAMESPACE},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": chain, "tls.key": key},
        },
        {
            "apiVersion": EG,
            "kind": "Backend",
            "metadata": {"name": backend.name, "namespace": NAMESPACE},
            "spec": {"endpoints": [{"ip": {"address": "127.0.0.1", "port": backend.port}}]},
        },
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
        found.append(
            {
                "apiVersion": EG,
                "kind": "ClientTrafficPolicy",
                "metadata": {"name": "client", "namespace": NAMESPACE},
                "spec": {
                    "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}],
                    **policy,
                },
            }
        )
    return found


async def listener_names(envoy: Envoy) -> set[str]:
    """The listeners Envoy serves now (warming, active or draining: not yet removed)."""
    return {str(x["name"]) for x in await envoy.config_dump("dynamic_listeners")}


async def test_http3_through_real_envoy(server: Server, recorded: Recorded, tmp_path: Path) -> None:
    ca = CA()
    certificate = ca.issue(HOSTNAME)
    backend = Backend("h3-backend")
    await backend.start()
    port = pick_free_port()
    translator = XdsTranslator()
    server.bus.publish(GROUP, translator.update(gateway_ir(documents(port, backend, certificate, {"http3": {}}))))
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
            server.bus.publish(GROUP, translator.update(gateway_ir(documents(port, backend, certificate, None))))

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
    backend = Backend("h3-mtls-backend")
    await backend.start()
    port = pick_free_port()
    client_chain, client_key = ca.issue("client")
    (tmp_path / "client.crt").write_text(client_chain)
    (tmp_path / "client.key").write_text(client_key)
    client_certificate = (tmp_path / "client.crt", tmp_path / "client.key")
    policy = {"http3": {}, "tls": {"clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "ca"}]}}}
    ca_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ca", "namespace": NAMESPACE},
        "data": {"ca.crt": ca.pem},
    }
    server.bus.publish(
        GROUP, XdsTranslator().update(gateway_ir([*documents(port, backend, ca.issue(HOSTNAME), policy), ca_map]))
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
