"""A real `egd serve` in a subprocess, for end-to-end tests of the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from egd.datadir import DataDir
from egd.natsserver import pick_free_port

ROOT = Path(__file__).resolve().parents[2]


def egd(
    *args: str, stdin: str | None = None, check: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the egd command line as users do, from this checkout."""
    result = subprocess.run(
        [sys.executable, "-m", "egd", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"egd {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


class Daemon:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.admin_port = pick_free_port()
        self.xds_port = pick_free_port()
        self.ratelimit_port = pick_free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-serve.log"

    @property
    def nats_url(self) -> str:
        """The NATS this daemon uses (recorded in its data dir while it runs)."""
        url = DataDir(self.data_dir).read_nats_url()
        assert url is not None, f"no running egd in {self.data_dir}"
        return url

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 30) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "egd",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--admin-address",
                f"127.0.0.1:{self.admin_port}",
                "--xds-address",
                f"127.0.0.1:{self.xds_port}",
                "--ratelimit-address",
                f"127.0.0.1:{self.ratelimit_port}",
                *self.extra,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"egd serve exited {self.process.returncode}:\n{self.log()}")
            if self.http_status("/readyz") == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"egd serve not ready within {timeout}s:\n{self.log()}")

    def http_status(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def http_get(self, path: str) -> str:
        with urllib.request.urlopen(self.admin_url + path, timeout=5) as response:
            return str(response.read().decode())

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
