"""The delivery audit with a real Envoy: every response egd sends and Envoy's ACK or NACK is recorded with
the log sequence it reflects, and `egd history --deliveries` answers what that Envoy was running."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from egd.natsserver import pick_free_port
from tests.egd.daemon import Daemon, egd
from tests.egd.serving import apply, gateway_documents, route_document, service_documents, wait_for_body
from tests.egd.xds.envoy_process import run_envoy


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path / "egd", "--delivery-retention", "1h")
    running.start()
    yield running
    assert running.stop() == 0, running.log()


async def deliveries(daemon: Daemon, *args: str) -> list[dict[str, Any]]:
    result = await asyncio.to_thread(
        egd, "history", "--deliveries", "-o", "json", *args, "--data-dir", str(daemon.data_dir)
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def wait_for_delivery(daemon: Daemon, kind: str, type_suffix: str, *, after_seq: int = 0) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = await deliveries(daemon, "--node", "envoy-1")
        for record in seen:
            if (
                record["kind"] == kind
                and record["type_url"].endswith(type_suffix)
                and record.get("seq", 0) >= after_seq
            ):
                return record
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} of {type_suffix} after {after_seq}: {seen}")


def last_seq(daemon: Daemon) -> int:
    result = egd("history", "-o", "json", "--data-dir", str(daemon.data_dir))
    return int(json.loads(result.stdout.splitlines()[-1])["seq"])


async def test_acks_and_nacks_are_recorded_with_the_sequence_they_reflect(
    daemon: Daemon, backends: dict[str, int], tmp_path: Path
) -> None:
    listener_port = pick_free_port()
    await apply(
        daemon,
        gateway_documents(listener_port)
        + "---"
        + service_documents("alpha", backends["alpha"])
        + "---"
        + route_document("alpha"),
    )
    async with run_envoy(tmp_path, gateway="default/edge", xds_port=daemon.xds_port, node_id="envoy-1"):
        url = f"http://127.0.0.1:{listener_port}/shop"
        await wait_for_body(url, "alpha /shop")
        first = last_seq(daemon)
        listener_ack = await wait_for_delivery(daemon, "ack", "Listener")
        assert listener_ack["seq"] == first and listener_ack["gateway"] == "default/edge"
        served = json.loads(daemon.http_get("/api/v1/xds?gateway=default/edge"))[0]["resources"]
        listener = next(r for r in served if r["type_url"].endswith("Listener"))
        assert [listener["name"], listener["version"]] in listener_ack["resources"]

        await apply(daemon, route_document("alpha", prefix="/shop"))
        changed = last_seq(daemon)
        route_ack = await wait_for_delivery(daemon, "ack", "VirtualHost", after_seq=changed)  # over VHDS
        assert route_ack["seq"] == changed
        accepted_at = datetime.now(UTC)

        with socket.socket() as occupied:  # a port Envoy cannot bind: it NACKs the new listener
            occupied.bind(("127.0.0.1", 0))
            occupied.listen()
            taken = occupied.getsockname()[1]
            await apply(daemon, gateway_documents(taken))
            moved = last_seq(daemon)
            nack = await wait_for_delivery(daemon, "nack", "Listener", after_seq=moved)
        assert nack["seq"] == moved and nack["error_message"], (nack, await deliveries(daemon))
        assert str(taken) in nack["error_message"] or "bind" in nack["error_message"]

        result = await asyncio.to_thread(
            egd,
            "history",
            "--deliveries",
            "--node",
            "envoy-1",
            "--running-at",
            accepted_at.isoformat(),
            "-o",
            "json",
            "--data-dir",
            str(daemon.data_dir),
        )
        assert result.returncode == 0, result.stderr
        running = json.loads(result.stdout)
        listeners = next(v for t, v in running["accepted"].items() if t.endswith("Listener"))
        assert listeners[listener["name"]]["version"] == listener["version"]
        virtual_hosts = next(v for t, v in running["accepted"].items() if t.endswith("VirtualHost"))
        assert {accepted["seq"] for accepted in virtual_hosts.values()} == {changed}  # the changed route's, over VHDS
        assert running["rejected"] == {} and running["connected"]

        now = await asyncio.to_thread(
            egd,
            "history",
            "--deliveries",
            "--node",
            "envoy-1",
            "--running-at",
            "-0s",
            "--data-dir",
            str(daemon.data_dir),
        )
        assert "NACK Listener" in now.stdout, now.stdout

    table = await asyncio.to_thread(
        egd, "history", "--deliveries", "--gateway", "default/edge", "--data-dir", str(daemon.data_dir)
    )
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["TIME", "NODE", "GATEWAY", "KIND", "TYPE", "NONCE", "SEQ", "RESOURCES", "ERROR"]
    assert {line.split()[3] for line in lines[1:]} >= {"connected", "sent", "ack", "nack", "disconnected"}
