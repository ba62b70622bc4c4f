"""egd's rate-limit service over mutual TLS with a real Envoy: the `egd-ratelimit` cluster egd puts in Envoy's
xDS carries the UpstreamTlsContext of `--ratelimit-envoy-tls-*`, the global limit is enforced through it, and a
client whose certificate another CA signed is refused in the handshake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as common_ratelimit_pb2
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

from egd.commands.serve import serve_command
from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon
from tests.egd.pki import CertificateAuthority, Issued
from tests.egd.serving import apply, wait_for_body
from tests.egd.test_ratelimit_envoy import (
    away_from_window_edge,
    every_client,
    limited_documents,
    routes_with_rate_limits,
    statuses,
)
from tests.egd.xds.envoy_process import run_envoy

SNI = "egd-ratelimit.test"


def client_credentials(ca: Path, client: Issued) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=client.key.read_bytes(),
        certificate_chain=client.cert.read_bytes(),
    )


async def should_rate_limit(port: int, credentials: grpc.ChannelCredentials) -> rls_pb2.RateLimitResponse:
    """One ShouldRateLimit call to egd's rate-limit service as a raw gRPC client with `credentials`."""
    options = [("grpc.ssl_target_name_override", SNI)]
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        stub = rls_pb2_grpc.RateLimitServiceStub(channel)
        request = rls_pb2.RateLimitRequest(
            domain="nowhere/none",
            descriptors=[common_ratelimit_pb2.RateLimitDescriptor(entries=[{"key": "k", "value": "v"}])],
        )
        response: rls_pb2.RateLimitResponse = await stub.ShouldRateLimit(request, timeout=5)
        return response


async def test_global_limit_over_mutual_tls_and_a_foreign_client_refused(tmp_path: Path, backend_port: int) -> None:
    pki = tmp_path / "pki"
    rls_ca = CertificateAuthority(pki, "rls")
    server = rls_ca.issue(SNI, server=True)
    envoys_ca = CertificateAuthority(pki, "envoys")
    envoy_cert = envoys_ca.issue("edge-1", server=False)
    foreign = CertificateAuthority(pki, "foreign").issue("edge-2", server=False)

    daemon = Daemon(
        tmp_path / "egd",
        *("--ratelimit-tls-cert", str(server.cert), "--ratelimit-tls-key", str(server.key)),
        *("--ratelimit-client-ca", str(envoys_ca.cert)),
        *("--ratelimit-envoy-tls-ca", str(rls_ca.cert), "--ratelimit-envoy-tls-sni", SNI),
        *("--ratelimit-envoy-tls-cert", str(envoy_cert.cert), "--ratelimit-envoy-tls-key", str(envoy_cert.key)),
    )
    await asyncio.to_thread(daemon.start)
    try:
        await away_from_window_edge(20)
        listener_port = pick_free_port()
        await apply(daemon, limited_documents(listener_port, backend_port, every_client(3)))
        base = f"http://127.0.0.1:{listener_port}"
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-tls") as envoy:
            await wait_for_body(f"{base}/free", "hello /free")
            await routes_with_rate_limits(envoy)
            answers = await statuses(f"{base}/limited", 4)
            assert [s for s, _ in answers] == [200, 200, 200, 429], answers

            (cluster,) = [
                c["cluster"]
                for c in (await envoy.config_dump("dynamic_active_clusters"))
                if c["cluster"]["name"] == "egd-ratelimit"
            ]
            context = cluster["transport_socket"]["typed_config"]
            assert context["sni"] == SNI
            common = context["common_tls_context"]
            assert common["validation_context"]["trusted_ca"] == {"filename": str(rls_ca.cert)}
            assert common["tls_certificates"][0]["certificate_chain"] == {"filename": str(envoy_cert.cert)}
            stats = await envoy.admin("/stats?filter=^cluster\\.egd-ratelimit\\.ssl\\.handshake$")
            assert int(stats.split(": ")[1]) >= 1, stats
        assert 'egd_ratelimit_decisions_total{code="OVER_LIMIT"}' in daemon.http_get("/metrics")

        # a raw gRPC client: with a certificate of the client CA it is answered; with a foreign one it is not
        answered = await should_rate_limit(daemon.ratelimit_port, client_credentials(rls_ca.cert, envoy_cert))
        assert answered.overall_code == rls_pb2.RateLimitResponse.OK
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await should_rate_limit(daemon.ratelimit_port, client_credentials(rls_ca.cert, foreign))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log()


def test_flags_that_would_leave_envoy_unable_to_reach_the_service_are_usage_errors(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path, "rls")
    server = ca.issue(SNI, server=True)
    serving = ["--ratelimit-tls-cert", str(server.cert), "--ratelimit-tls-key", str(server.key)]
    for bad, complaint in (
        (serving, "needs the CA Envoys verify"),
        ([*serving, "--ratelimit-client-ca", str(ca.cert), "--ratelimit-envoy-tls-ca", "/ca"], "mutual TLS"),
        (["--ratelimit-envoy-tls-ca", "/ca"], "needs the server to serve TLS"),
        (["--ratelimit-tls-cert", str(server.cert)], "go together"),
    ):
        result = CliRunner().invoke(serve_command, ["--data-dir", str(tmp_path / "egd"), *bad])
        assert result.exit_code == 2, result.output
        assert complaint in result.output, result.output
