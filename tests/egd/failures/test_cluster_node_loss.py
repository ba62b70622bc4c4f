"""A 3-node NATS cluster with the R3 event stream: kill -9 the stream's leader while events are published and
an Envoy is connected. No acknowledged event is lost, the daemon keeps serving (Envoy keeps its traffic),
and the fold goes on after the node comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from egd.commands.apply import make_audit
from egd.natsserver import pick_free_port
from events.errors import EventStoreError
from events.jetstream import JetStreamEventStore
from projections.changeset import plan_apply
from tests.egd.daemon import Daemon, egd
from tests.egd.failures.cluster import NatsCluster
from tests.egd.failures.scenario import admin_json, eventually, service, service_names
from tests.egd.failures.test_replica_kill import RequestLoop
from tests.egd.serving import gateway_documents, route_document, service_documents, start_backend
from tests.egd.xds.envoy_process import run_envoy


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats")
    await nodes.start()
    yield nodes
    await nodes.stop()


class Producer:
    """Creates Services `p-0`, `p-1`, ... one acknowledged write at a time; remembers which were acked."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.acked: list[str] = []
        self.failed: list[str] = []
        self._stop = asyncio.Event()
        self._audit = make_audit("producer", "", "apply")

    async def run(self) -> None:
        number = 0
        while not self._stop.is_set():
            name = f"p-{number}"
            number += 1
            (change,) = plan_apply([service(name)], {}, self._audit)
            assert change.append is not None
            try:
                await self.store.append([change.append])
            except EventStoreError as exc:  # not acknowledged: may or may not be stored
                self.failed.append(f"{name}: {exc}")
                continue
            self.acked.append(name)
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()


async def test_losing_the_stream_leader_loses_no_acknowledged_event(tmp_path: Path, cluster: NatsCluster) -> None:
    runner, backend_port = await start_backend("alpha")
    daemon = Daemon(tmp_path / "egd", "--nats-url", cluster.url, "--stream-replicas", "3")
    await asyncio.to_thread(daemon.start, 60)
    try:
        listener_port = pick_free_port()
        documents = "---".join(
            [gateway_documents(listener_port), service_documents("alpha", backend_port), route_document("alpha")]
        )
        cli = ("--nats-url", cluster.url, "--data-dir", str(tmp_path / "cli"))
        await asyncio.to_thread(egd, "apply", "-f", "-", *cli, stdin=documents, check=True)
        store = await JetStreamEventStore.connect(cluster.url.split(","), manage_stream=False, give_up_after=5)
        async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="edge-1"):
            loop = RequestLoop(f"http://127.0.0.1:{listener_port}/shop")
            producer = Producer(store)
            tasks = [asyncio.create_task(loop.run()), asyncio.create_task(producer.run())]
            try:
                await eventually(lambda: _answered(loop), within=15, what="traffic through Envoy")
                loop.failures.clear()
                await asyncio.sleep(1.0)
                leader = cluster.node(await cluster.stream_leader())
                acked_before_kill = len(producer.acked)
                await leader.kill()
                killed_at = time.monotonic()
                await eventually(
                    lambda: _acked_more(producer, acked_before_kill + 20),
                    within=20,
                    what="writes acknowledged again after the leader died",
                )
                writes_resumed_after = time.monotonic() - killed_at
                acked_while_down = len(producer.acked) - acked_before_kill
                await leader.start()
                await asyncio.sleep(1.5)
            finally:
                producer.stop()
                loop.stop()
                await asyncio.gather(*tasks)
            await store.close()

            # Every acknowledged event is in the fold; the daemon is caught up and ready.
            acked = set(producer.acked)
            await eventually(lambda: _folded_all(daemon, acked), within=20, what="every acknowledged event folded")
            await eventually(lambda: _ready(daemon), within=10, what="/readyz 200")
            assert loop.failures == [], loop.failures[:5]
        print(
            f"acked {len(acked)} ({acked_while_down} while {leader.server_name}, the leader, was down; writes "
            f"resumed {writes_resumed_after:.2f}s after the kill), unacknowledged {len(producer.failed)}, "
            f"requests {loop.answers}"
        )
        sequence = await admin_json(daemon, "/api/v1/sequence")
        assert sequence["folded_seq"] >= len(acked) + 3
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log()
        await runner.cleanup()


async def _acked_more(producer: Producer, count: int) -> bool:
    return len(producer.acked) >= count


async def _answered(loop: RequestLoop) -> bool:
    return loop.answers.get("alpha", 0) > 0


async def _folded_all(daemon: Daemon, acked: set[str]) -> set[str] | bool:
    missing = acked - await service_names(daemon)
    return not missing or False


async def _ready(daemon: Daemon) -> bool:
    return await asyncio.to_thread(daemon.http_status, "/readyz") == 200
