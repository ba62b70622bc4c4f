"""End to end with a real Envoy: BackendTrafficPolicy (retries, timeouts, fault injection, consistent hashing,
outlier detection), ClientTrafficPolicy (mTLS) and BackendTLSPolicy (an HTTPS backend with a test CA) change
what Envoy does; a policy change or deletion is pushed live, as only the resources it affects."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from egd.natsserver import pick_free_port
from projections.xds.resources import CLUSTER, VIRTUAL_HOST
from tests.egd.pki import CA
from tests.egd.serving import PolicyBackend, eventually, fetch_json, policy_backends, until_served
from tests.egd.xds.conftest import GROUP, Recorded, Server
from tests.egd.xds.envoy_process import run_envoy
from tests.egd.xds.gateway_documents import (
    GW_API,
    NAMESPACE,
    GatewayFeed,
    backend_route,
    backend_traffic_policy,
    ca_config_map,
    client_traffic_policy,
    eg_backend,
    gateway,
    http_listener,
    https_listener,
    tls_secret,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, PolicyBackend]]:
    async with policy_backends("one", "two") as found:
        yield found


async def test_backend_traffic_policy_through_real_envoy(
    server: Server, recorded: Recorded, backends: dict[str, PolicyBackend], tmp_path: Path
) -> None:
    one, two = backends["one"], backends["two"]
    port = pick_free_port()
    routes = [
        backend_route("retried", "/flaky", "one-only"),
        backend_route("slow", "/slow", "one-only"),
        backend_route("faulty", "/fault", "one-only"),
        backend_route("sticky", "/sticky", "both"),
        backend_route("ejecting", "/eject", "both"),
        backend_route("plain", "/plain", "one-only"),
    ]
    policies = [
        backend_traffic_policy("retries", "retried", retry={"numRetries": 3, "retryOn": {"httpStatusCodes": [503]}}),
        backend_traffic_policy("timeout", "slow", timeout={"http": {"requestTimeout": "200ms"}}),
        backend_traffic_policy("fault", "faulty", faultInjection={"abort": {"httpStatus": 418}}),
        backend_traffic_policy(
            "sticky",
            "sticky",
            loadBalancer={"type": "ConsistentHash", "consistentHash": {"type": "Header", "header": {"name": "x-user"}}},
        ),
        backend_traffic_policy(
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
        *gateway([http_listener(port)]),
        eg_backend("one-only", one.port),
        eg_backend("both", one.port, two.port),
        *routes,
        *policies,
    ]
    feed = GatewayFeed(server.bus)
    feed.publish(documents)
    base = f"http://127.0.0.1:{port}"
    async with (
        run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="policies"),
        aiohttp.ClientSession() as session,
    ):
        await until_served(session, f"{base}/plain")
        assert recorded.nacks == []

        # retries: the backend fails twice, the third attempt answers
        assert (await fetch_json(session, f"{base}/flaky/a"))[0] == 200
        assert one.hits["/flaky/a"] == 3

        # timeout: the backend takes 1 s, the policy allows 200 ms
        assert (await fetch_json(session, f"{base}/slow"))[0] == 504

        # fault injection: the configured status, the backend never asked
        assert (await fetch_json(session, f"{base}/fault"))[0] == 418
        assert "/fault" not in one.hits

        # consistent hashing by header: one user sticks to one backend
        for user in ("alice", "bob", "carol"):
            seen = {
                (await fetch_json(session, f"{base}/sticky", headers={"x-user": user}))[1].get("backend")
                for _ in range(8)
            }
            assert len(seen) == 1, (user, seen)

        # outlier detection: a failing endpoint is ejected, the other one serves everything
        two.failing = True
        statuses = [(await fetch_json(session, f"{base}/eject"))[0] for _ in range(10)]
        assert statuses.count(503) <= 2, statuses
        assert statuses[-5:] == [200] * 5
        two.failing = False

        # a policy change is pushed live, as only the resources it affects: the fault's route configuration
        pushed_before = len(recorded.responses)
        changed = [p for p in policies if p["metadata"]["name"] != "fault"]
        changed.append(backend_traffic_policy("fault", "faulty", faultInjection={"abort": {"httpStatus": 429}}))
        feed.publish([*documents[: -len(policies)], *changed])

        async def aborts_429() -> bool:
            return (await fetch_json(session, f"{base}/fault"))[0] == 429

        await eventually(aborts_429, what="the changed fault")
        pushed = recorded.sent_since(pushed_before)
        assert {p.type_url for p in pushed} == {VIRTUAL_HOST}  # the route's virtual host, over VHDS
        assert sum(p.resources for p in pushed) == 1

        # deleting the retry policy: its route's cluster goes back to the plain one, retries stop
        pushed_before = len(recorded.responses)
        without = [p for p in changed if p["metadata"]["name"] != "retries"]
        feed.publish([*documents[: -len(policies)], *without])

        async def no_retries() -> bool:
            return (await fetch_json(session, f"{base}/flaky/b"))[0] == 503

        await eventually(no_retries, what="retries gone")
        pushed = recorded.sent_since(pushed_before)
        assert {p.type_url for p in pushed} <= {VIRTUAL_HOST, CLUSTER}
        assert recorded.nacks == []


async def test_client_and_backend_tls_policies_through_real_envoy(
    server: Server, recorded: Recorded, tmp_path: Path
) -> None:
    ca = CA()
    server_cert, server_key = ca.issue("secure.example.com")
    backend_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_context.load_cert_chain(*ca.issue_to(tmp_path, "backend", "backend.internal"))
    backend = PolicyBackend("tls-backend")
    await backend.start(backend_context)
    port = pick_free_port()
    documents = [
        *gateway([https_listener(port, "secure.example.com")]),
        tls_secret("cert", server_cert, server_key),
        ca_config_map("ca", ca.pem),
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
        backend_route("app", "/", "tls-backend", kind="Service", port=443),
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
        client_traffic_policy(
            "mtls",
            tls={"minVersion": "1.2", "clientValidation": {"caCertificateRefs": [{"kind": "ConfigMap", "name": "ca"}]}},
        ),
    ]
    feed = GatewayFeed(server.bus)
    feed.publish(documents)
    with_cert = ssl.create_default_context(cadata=ca.pem)
    with_cert.load_cert_chain(*ca.issue_to(tmp_path, "client", "client"))
    without_cert = ssl.create_default_context(cadata=ca.pem)
    url = f"https://127.0.0.1:{port}/"
    options = {"server_hostname": "secure.example.com", "headers": {"Host": "secure.example.com"}}
    try:
        async with (
            run_envoy(tmp_path, gateway=GROUP, xds_port=server.port, node_id="tls-policies"),
            aiohttp.ClientSession() as session,
        ):
            await until_served(
                session, url, ssl=with_cert, **options, what="mTLS traffic through Envoy to the HTTPS backend"
            )
            # BackendTLSPolicy: Envoy reached the HTTPS backend, verified with the test CA
            status, body, _ = await fetch_json(session, url, ssl=with_cert, **options)
            assert (status, body.get("backend")) == (200, "tls-backend")
            # ClientTrafficPolicy mTLS: a client without a certificate is refused
            assert (await fetch_json(session, url, ssl=without_cert, **options))[0] == 0
            assert recorded.nacks == []

            # deleting the ClientTrafficPolicy lifts mTLS without restarting Envoy
            feed.publish(documents[:-1])

            async def open_to_all() -> bool:
                return (await fetch_json(session, url, ssl=without_cert, **options))[0] == 200

            await eventually(open_to_all, what="mTLS lifted")
            assert recorded.nacks == []
    finally:
        await backend.stop()
