"""Policy change → new limit enforced: `egd apply` of a changed BackendTrafficPolicy until real Envoy's
responses carry the new limit (X-RateLimit-Limit, computed by Envoy from egd's rate-limit service's answer).

One `egd serve` (embedded NATS, memory counters), one real Envoy, one route. Each round raises the limit of
a per-user (Distinct header) rule, so no counter ever runs out, and polls with a fresh user until the new
limit shows. Reported: from the start of `egd apply` (a CLI process: includes Python start-up) and from its
return, medians over rounds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import aiohttp

from egd.natsserver import pick_free_port
from tests.bench.conftest import ROUNDS, report
from tests.egd.daemon import Daemon
from tests.egd.serving import apply, start_backend, wait_for_body
from tests.egd.test_ratelimit_envoy import limited_documents, policy_document
from tests.egd.xds.envoy_process import run_envoy

CHANGES = max(ROUNDS * 4, 20)


def per_user(requests: int) -> str:
    selector = "{headers: [{name: x-user, type: Distinct}]}"
    return f"{{clientSelectors: [{selector}], limit: {{requests: {requests}, unit: Hour}}}}"


async def limit_shown(session: aiohttp.ClientSession, url: str, user: str) -> str:
    async with session.get(url, headers={"x-user": user}) as response:
        await response.read()
        return response.headers.get("x-ratelimit-limit", "")


async def test_policy_change_to_enforced_limit(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "egd")
    daemon.start()
    runner, backend_port = await start_backend("hello")
    try:
        listener_port = pick_free_port()
        await apply(
            daemon,
            limited_documents(listener_port, backend_port, per_user(1000)),
        )
        url = f"http://127.0.0.1:{listener_port}/limited"
        from_start: list[float] = []
        from_return: list[float] = []
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="bench"):
            await wait_for_body(f"http://127.0.0.1:{listener_port}/free", "hello /free")
            async with aiohttp.ClientSession() as session:
                for change in range(CHANGES):
                    limit = 1001 + change
                    started = time.perf_counter()
                    await apply(daemon, policy_document(per_user(limit)))
                    returned = time.perf_counter()
                    polls = 0
                    while not (await limit_shown(session, url, f"u{change}-{polls}")).startswith(f"{limit},"):
                        polls += 1
                        assert time.perf_counter() - returned < 10, "the new limit never showed"
                    done = time.perf_counter()
                    from_start.append((done - started) * 1000)
                    from_return.append((done - returned) * 1000)
        report("policy change -> limit enforced, from egd apply start", from_start, "ms", "lower")
        report("policy change -> limit enforced, from egd apply return", from_return, "ms", "lower")
        print(f"p90 from return: {statistics.quantiles(from_return, n=10)[-1]:.1f} ms over {CHANGES} changes")
    finally:
        await runner.cleanup()
        assert daemon.stop() == 0, daemon.log()
