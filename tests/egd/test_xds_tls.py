"""xDS over mutual TLS with a real Envoy: one whose certificate egd's client CA signed gets its configuration
and carries traffic; one whose certificate another CA signed is refused in the handshake and gets nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egd.commands.bootstrap import bootstrap_command
from egd.natsserver import pick_free_port
from projections.xds.bootstrap import XdsClientTls
from tests.egd.daemon import Daemon
from tests.egd.pki import CertificateAuthority
from tests.egd.serving import (
    apply,
    gateway_documents,
    route_document,
    service_documents,
    start_backend,
    wait_for_body,
)
from tests.egd.xds.envoy_process import Envoy, run_envoy

SNI = "egd-xds.test"


async def egd_xds_stats(envoy: Envoy) -> dict[str, int]:
    """Envoy's counters of its connection to egd (`cluster.egd_xds.*`), by the rest of their name."""
    text = await envoy.admin("/stats?filter=^cluster\\.egd_xds\\.")
    counters = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.isdigit():
            counters[name.removeprefix("cluster.egd_xds.")] = int(value)
    return counters


@pytest.fixture
async def backend() -> AsyncIterator[int]:
    runner, port = await start_backend("alpha")
    yield port
    await runner.cleanup()


async def test_envoy_over_mutual_tls_and_an_envoy_with_a_foreign_certificate_refused(
    tmp_path: Path, backend: int
) -> None:
    xds_ca = CertificateAuthority(tmp_path / "pki", "xds")
    server = xds_ca.issue(SNI, server=True)
    envoys_ca = CertificateAuthority(tmp_path / "pki", "envoys")
    good = envoys_ca.issue("edge-1", server=False)
    foreign = CertificateAuthority(tmp_path / "pki", "foreign").issue("edge-2", server=False)

    daemon = Daemon(
        tmp_path / "egd",
        *("--xds-tls-cert", str(server.cert), "--xds-tls-key", str(server.key)),
        *("--xds-client-ca", str(envoys_ca.cert)),
    )
    await asyncio.to_thread(daemon.start)
    try:
        listener_port = pick_free_port()
        await apply(
            daemon,
            gateway_documents(listener_port)
            + "---"
            + service_documents("alpha", backend)
            + "---"
            + route_document("alpha"),
        )
        trusted = XdsClientTls(ca_file=str(xds_ca.cert), cert_file=str(good.cert), key_file=str(good.key), sni=SNI)
        async with run_envoy(
            tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="good", tls=trusted
        ) as envoy:
            await wait_for_body(f"http://127.0.0.1:{listener_port}/shop", "alpha /shop")
            assert (await egd_xds_stats(envoy))["ssl.handshake"] >= 1

        stranger = XdsClientTls(
            ca_file=str(xds_ca.cert), cert_file=str(foreign.cert), key_file=str(foreign.key), sni=SNI
        )
        async with run_envoy(
            tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="stranger", tls=stranger
        ) as envoy:
            stats: dict[str, int] = {}
            for _ in range(100):  # Envoy retries the ADS stream with backoff; let it try a few times
                stats = await egd_xds_stats(envoy)
                if stats.get("upstream_cx_connect_fail", 0) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert stats.get("upstream_cx_connect_fail", 0) >= 2, stats
            assert stats.get("ssl.handshake", 0) == 0, stats
            gauges = await envoy.admin(
                "/stats?filter=^(control_plane.connected_state|listener_manager.total_listeners_active)$"
            )
            assert sorted(gauges.split()) == sorted(
                ["control_plane.connected_state:", "0", "listener_manager.total_listeners_active:", "0"]
            )
            connected = json.loads(daemon.http_get("/api/v1/envoys"))
            assert [e["node_id"] for e in connected] == []
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log()


def test_bootstrap_emits_an_upstream_tls_context_for_egd() -> None:
    args = ["--gateway", "prod/edge", "--xds-address", "10.0.0.1:18000", "--xds-tls-ca", "/etc/egd/ca.pem"]
    mutual = ["--xds-tls-cert", "/etc/envoy/tls.pem", "--xds-tls-key", "/etc/envoy/tls-key.pem"]
    result = CliRunner().invoke(bootstrap_command, [*args, *mutual, "--xds-tls-sni", "egd.prod"])
    assert result.exit_code == 0, result.output
    (xds,) = yaml.safe_load(result.output)["static_resources"]["clusters"]
    context = xds["transport_socket"]["typed_config"]
    assert context["@type"].endswith("UpstreamTlsContext")
    assert context["sni"] == "egd.prod"
    common = context["common_tls_context"]
    assert common["validation_context"]["trusted_ca"] == {"filename": "/etc/egd/ca.pem"}
    assert common["validation_context"]["match_typed_subject_alt_names"][0]["matcher"] == {"exact": "egd.prod"}
    assert common["tls_certificates"] == [
        {"certificate_chain": {"filename": "/etc/envoy/tls.pem"}, "private_key": {"filename": "/etc/envoy/tls-key.pem"}}
    ]
    assert common["alpn_protocols"] == ["h2"]

    for bad in (
        [*args, "--xds-tls-cert", "/x.pem"],
        ["--gateway", "a/b", "--xds-tls-cert", "/x", "--xds-tls-key", "/y"],
    ):
        failed = CliRunner().invoke(bootstrap_command, bad)
        assert failed.exit_code == 2, failed.output
