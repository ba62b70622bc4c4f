"""A real nats-server started with a configuration file that the test writes (auth, permissions, TLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from egd.natsserver import NatsServerProcess


def write_config(directory: Path, config: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "nats-server.conf"
    config_file.write_text(config)
    return config_file


@asynccontextmanager
async def nats_with_config(directory: Path, config: str) -> AsyncIterator[NatsServerProcess]:
    config_file = write_config(directory, config)
    server = NatsServerProcess(directory / "store", extra_args=["-c", str(config_file)])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
