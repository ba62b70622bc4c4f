"""Rate limits end to end: `egd serve` + `egd apply` of a BackendTrafficPolicy → real Envoy → egd's own
rate-limit service (memory, or real Redis shared by two replicas) → 429s with X-RateLimit headers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from egd.natsserver import NatsServerProcess, pick_free_port
from tests.egd.daemon import Daemon, egd
from tests.egd.serving import apply, gateway_documents, service_documents, wait_for_body
from tests.egd.xds.envoy_process import Envoy, run_envoy

REDIS_URL = "redis://127.0.0.1:6379/0"
GROUP = "gateway.networking.k8s.io"


def routes_documents() -> str:
    return "".join(
        f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: edge}}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: /{name}}}}}]
      backendRefs: [{{name: hello, port: 80}}]
"""
        for name in ("limited", "free")
    )


def policy_document(rule: str, *, kind: str = "Global") -> str:
    section = "global" if kind == "Global" else "local"
    return f"""
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: limit}}
spec:
  targetRefs: [{{group: {GROUP}, kind: HTTPRoute, name: limited}}]
  rateLimit:
    type: {kind}
    {section}:
      rules: [{rule}]
"""


def limited_documents(listener_port: int, backend_port: int, rule: str, *, kind: str = "Global") -> str:
    """The Gateway `edge` on `listener_port`, the Service `hello` of `backend_port`, the routes `limited` and
    `free` to it, and the policy with the rate limit `rule` on `limited`."""
    return (
        gateway_documents(listener_port)
        + "---"
        + service_documents("hello", backend_port)
        + routes_documents()
        + "---"
        + policy_document(rule, kind=kind)
    )


def every_client(requests: int, unit: str = "Minute") -> str:
    return f"{{limit: {{requests: {requests}, unit: {unit}}}}}"


def per_user(requests: int) -> str:
    selector = "{headers: [{name: x-user, type: Distinct}]}"
    return f"{{clientSelectors: [{selector}], limit: {{requests: {requests}, unit: Minute}}}}"


async def away_from_window_edge(margin: float = 12.0) -> None:
    """Counters are fixed windows aligned to the minute: start a test well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.2)


async def statuses(url: str, count: int, headers: dict[str, str] | None = None) -> list[tuple[int, dict[str, str]]]:
    out = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(count):
            async with session.get(url, headers=headers or {}) as response:
                await response.read()
                out.append((response.status, {k.lower(): v for k, v in response.headers.items()}))
    return out


async def until_limited(url: str, *, allowed: int, header: str, within: float = 15) -> str:
    """Wait until a new Distinct-header rule is in place; the user (header value) it was proven with.

    Each attempt uses a new user, so that attempts made while Envoy and the rate-limit service still
    disagree (which lets requests through uncounted) never spend the quota of the next attempt."""
    started = time.monotonic()
    last: list[int] = []
    attempt = 0
    while time.monotonic() - started < within:
        attempt += 1
        user = f"user-{attempt}"
        last = [s for s, _ in await statuses(url, allowed + 1, {header: user})]
        if last == [200] * allowed + [429]:
            return user
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url}: never {allowed} x 200 then 429; last {last}")


async def routes_with_rate_limits(envoy: Envoy, *, within: float = 10) -> None:
    started = time.monotonic()
    while "rate_limits" not in json.dumps(await envoy.admin("/config_dump")):
        assert time.monotonic() - started < within, "Envoy never got the route's rate_limits"
        await asyncio.sleep(0.02)


async def test_global_limit_per_route_per_user_changed_and_deleted(
    daemon: Daemon, backend_port: int, tmp_path: Path
) -> None:
    await away_from_window_edge(20)
    listener_port = pick_free_port()
    await apply(daemon, limited_documents(listener_port, backend_port, every_client(3)))
    base = f"http://127.0.0.1:{listener_port}"
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-rl"):
        await wait_for_body(f"{base}/free", "hello /free")
        # 3 requests per minute on the route: the 4th is refused, with the X-RateLimit headers
        answers = await statuses(f"{base}/limited", 4)
        assert [s for s, _ in answers] == [200, 200, 200, 429], answers
        refused = answers[3][1]
        assert refused["x-ratelimit-limit"].startswith("3, 3;w=60")
        assert refused["x-ratelimit-remaining"] == "0"
        assert 0 < int(refused["x-ratelimit-reset"]) <= 60
        assert answers[0][1]["x-ratelimit-remaining"] == "2"
        assert [s for s, _ in await statuses(f"{base}/free", 5)] == [200] * 5  # other routes are not limited

        # the limit changes without restarting anything: 3 -> 100 in the same window (the counter stays at 4)
        await apply(daemon, policy_document(every_client(100)))
        started = time.monotonic()
        while [s for s, _ in await statuses(f"{base}/limited", 1)] != [200]:
            assert time.monotonic() - started < 10, "the raised limit never took effect"
            await asyncio.sleep(0.02)

        # a Distinct header selector: each user has their own bucket
        await apply(daemon, policy_document(per_user(2)))
        alice = await until_limited(f"{base}/limited", allowed=2, header="x-user")
        assert [s for s, _ in await statuses(f"{base}/limited", 1, {"x-user": alice})] == [429]
        assert [s for s, _ in await statuses(f"{base}/limited", 3, {"x-user": "bob"})] == [200, 200, 429]
        assert [s for s, _ in await statuses(f"{base}/limited", 1, {"x-user": "carol"})] == [200]

        # deleting the policy lifts the limit
        result = await asyncio.to_thread(
            egd, "delete", "backendtrafficpolicy", "limit", "--data-dir", str(daemon.data_dir)
        )
        assert result.returncode == 0, result.stderr
        started = time.monotonic()
        while [s for s, _ in await statuses(f"{base}/limited", 1, {"x-user": alice})] != [200]:
            assert time.monotonic() - started < 10, "the deleted policy still limits"
            await asyncio.sleep(0.02)
        assert [s for s, _ in await statuses(f"{base}/limited", 10, {"x-user": alice})] == [200] * 10

    metrics = daemon.http_get("/metrics")
    assert 'egd_ratelimit_decisions_total{code="OVER_LIMIT"}' in metrics
    policy = json.loads(egd("get", "backendtrafficpolicy", "-o", "json", "--data-dir", str(daemon.data_dir)).stdout)
    assert policy["items"] == []


async def test_policy_status_and_rl_config_from_the_log(daemon: Daemon, backend_port: int) -> None:
    await apply(daemon, limited_documents(pick_free_port(), backend_port, every_client(3)))
    policy = json.loads(egd("get", "btp", "limit", "-o", "json", "--data-dir", str(daemon.data_dir)).stdout)
    (ancestor,) = policy["status"]["ancestors"]
    assert ancestor["ancestorRef"] == {"group": GROUP, "kind": "Gateway", "name": "edge", "namespace": "default"}
    assert [(c["type"], c["status"]) for c in ancestor["conditions"]] == [("Accepted", "True")]
    config = egd("ratelimit", "config", "--data-dir", str(daemon.data_dir), check=True).stdout
    assert "domain: default/edge" in config
    assert "requests_per_unit: 3" in config


async def test_local_limit_needs_no_rate_limit_service(daemon: Daemon, backend_port: int, tmp_path: Path) -> None:
    await away_from_window_edge()
    listener_port = pick_free_port()
    await apply(daemon, limited_documents(listener_port, backend_port, every_client(2), kind="Local"))
    base = f"http://127.0.0.1:{listener_port}"
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-local") as envoy:
        await wait_for_body(f"{base}/free", "hello /free")
        answers = await statuses(f"{base}/limited", 3)
        assert [s for s, _ in answers] == [200, 200, 429], answers
        assert answers[2][1]["x-ratelimit-remaining"] == "0"
        clusters = json.dumps(await envoy.config_dump("dynamic_active_clusters"))
        assert "egd-ratelimit" not in clusters  # Envoy does not even know where a rate-limit service is
    assert "egd_ratelimit_decisions_total{" not in daemon.http_get("/metrics")


QUIET_CLIENTS = f"""
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {{name: quiet}}
spec:
  targetRefs: [{{group: {GROUP}, kind: Gateway, name: edge}}]
  headers: {{disableRateLimitHeaders: true}}
"""


async def test_response_cost_is_counted_when_the_stream_is_done(
    daemon: Daemon, backend_port: int, tmp_path: Path
) -> None:
    """A rule of 5 per minute whose request costs 1 and whose response costs 4 more: Envoy reports the
    response cost once the stream is done, so the first request passes and spends the whole quota. Then a
    ClientTrafficPolicy takes the X-RateLimit headers away."""
    await away_from_window_edge()
    listener_port = pick_free_port()
    costly = (
        "{limit: {requests: 5, unit: Minute},"
        " cost: {request: {from: Number, number: 1}, response: {from: Number, number: 4}}}"
    )
    await apply(
        daemon,
        limited_documents(listener_port, backend_port, costly),
    )
    base = f"http://127.0.0.1:{listener_port}"
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-cost") as envoy:
        await wait_for_body(f"{base}/free", "hello /free")
        await routes_with_rate_limits(envoy)
        first = await statuses(f"{base}/limited", 1)
        assert [s for s, _ in first] == [200], first
        assert first[0][1]["x-ratelimit-remaining"] == "4"  # the request's own cost only
        await asyncio.sleep(0.5)  # the response's 4 hits are reported after the response, apart from it
        second = await statuses(f"{base}/limited", 1)
        assert [s for s, _ in second] == [429], second  # without the response cost 4 more would pass
        assert second[0][1]["x-ratelimit-remaining"] == "0"

        # a ClientTrafficPolicy's disableRateLimitHeaders: still limited, without X-RateLimit headers
        await apply(daemon, QUIET_CLIENTS)
        started = time.monotonic()
        while "x-ratelimit-limit" in (answer := (await statuses(f"{base}/limited", 1))[0])[1]:
            assert time.monotonic() - started < 10, "the X-RateLimit headers never went away"
            await asyncio.sleep(0.05)
        assert answer[0] == 429, answer


async def test_local_limit_request_cost(daemon: Daemon, backend_port: int, tmp_path: Path) -> None:
    """A local bucket of 4 tokens per minute, 2 tokens a request: the third request is refused."""
    await away_from_window_edge()
    listener_port = pick_free_port()
    await apply(
        daemon,
        limited_documents(
            listener_port,
            backend_port,
            "{limit: {requests: 4, unit: Minute}, cost: {request: {from: Number, number: 2}}}",
            kind="Local",
        ),
    )
    base = f"http://127.0.0.1:{listener_port}"
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-local-cost"):
        await wait_for_body(f"{base}/free", "hello /free")
        answers = await statuses(f"{base}/limited", 3)
        assert [s for s, _ in answers] == [200, 200, 429], answers
        assert answers[0][1]["x-ratelimit-remaining"] == "2"


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    yield server
    await server.stop()


async def test_two_replicas_sharing_redis_enforce_one_limit(
    nats: NatsServerProcess, backend_port: int, tmp_path: Path
) -> None:
    """Two `egd serve` on one NATS, each serving its own Envoy and its own rate-limit service, counting in
    one Redis. Both Envoys bind the listener port (SO_REUSEPORT), so the kernel spreads connections over them."""
    prefix = f"egd-test-{uuid.uuid4().hex[:8]}_"
    replicas = [
        Daemon(tmp_path / f"egd-{i}", "--nats-url", nats.url, "--redis-url", REDIS_URL, "--redis-key-prefix", prefix)
        for i in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        await away_from_window_edge(20)
        listener_port = pick_free_port()
        await apply(replicas[0], limited_documents(listener_port, backend_port, every_client(10)))
        base = f"http://127.0.0.1:{listener_port}"
        async with (
            run_envoy(tmp_path, gateway="default/edge", xds_port=replicas[0].xds_port, node_id="envoy-a") as a,
            run_envoy(tmp_path, gateway="default/edge", xds_port=replicas[1].xds_port, node_id="envoy-b") as b,
        ):
            await wait_for_body(f"{base}/free", "hello /free")
            for envoy in (a, b):
                await routes_with_rate_limits(envoy)
            answers = [s for s, _ in await statuses(f"{base}/limited", 24)]
        assert answers.count(200) == 10, answers
        assert answers.count(429) == 14
        for replica in replicas:  # both replicas' rate-limit services answered some of them
            assert "egd_ratelimit_decisions_total{" in replica.http_get("/metrics"), replica.log()
    finally:
        for replica in replicas:
            assert replica.stop() == 0, replica.log()
