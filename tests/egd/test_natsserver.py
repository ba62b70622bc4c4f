"""The nats-server runner: start, stop, restart in place, and a clear error when it cannot start."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import nats
import pytest

from egd.natsserver import DEFAULT_NATS_PORT, NatsServerError, NatsServerProcess, pick_free_port
from tests.egd.daemon import Daemon


def test_pick_free_port_gives_a_bindable_port_other_than_4222() -> None:
    port = pick_free_port()

    assert port != DEFAULT_NATS_PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_start_serves_jetstream_and_restart_keeps_port_and_data(tmp_path: Path) -> None:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    try:
        url, pid = server.url, server.pid
        nc = await nats.connect(url)
        await nc.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
        await nc.close()

        await server.restart()

        nc = await nats.connect(url)
        info = await nc.jsm().stream_info("KEPT")
        await nc.close()
        assert server.url == url
        assert server.pid != pid
        assert info.config.name == "KEPT"
    finally:
        await server.stop()
    assert not server.running


async def test_kill_then_start_recovers_the_store(tmp_path: Path) -> None:
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="KEPT", subjects=["kept.>"])
        await js.publish("kept.one", b"1")
        await nc.close()

        await server.kill()
        await server.start()

        nc = await nats.connect(server.url)
        info = await nc.jsm().stream_info("KEPT")
        await nc.close()
    finally:
        await server.stop()
    assert info.state.messages == 1


async def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    first = NatsServerProcess(tmp_path / "first")
    await first.start()
    try:
        clash = NatsServerProcess(tmp_path / "second", port=first.port)
        with pytest.raises(NatsServerError, match="exited with code") as raised:
            await clash.start()
    finally:
        await first.stop()
    assert "address already in use" in str(raised.value)


async def test_a_server_left_running_on_the_store_dir_is_stopped_before_a_new_one_starts(tmp_path: Path) -> None:
    first = NatsServerProcess(tmp_path / "store")
    # a server as a killed parent leaves it: running on its own, in another session
    orphan = subprocess.Popen(  # noqa: ASYNC220 - a plain child that the test owns and reaps
        first.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        for _ in range(500):
            if first.pid_path.exists() and first.pid_path.read_text().strip() == str(orphan.pid):
                break
            await asyncio.sleep(0.01)
        second = NatsServerProcess(tmp_path / "store")
        async with second:
            assert orphan.wait(timeout=10) is not None, "the orphan on the same store dir must be stopped"
            assert second.running
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_the_embedded_server_dies_with_a_killed_daemon(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "egd")
    daemon.start()
    pid_file = daemon.data_dir / "nats" / "nats-server.pid"
    nats_pid = int(pid_file.read_text().strip())
    daemon.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{nats_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    status = Path(f"/proc/{nats_pid}/status")
    assert not status.exists() or "zombie" in status.read_text(), "nats-server outlived the killed daemon"
