"""Fixtures that end-to-end tests of `egd serve` share: a real daemon (embedded nats-server), two local
HTTP backends (`backends`) and one (`backend_port`). A test module that needs another shape defines its own
fixture of the same name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.egd import serving
from tests.egd.daemon import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path / "egd")
    running.start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    """Backends answering `alpha <path>` and `beta <path>`: name → port."""
    async with serving.backends("alpha", "beta") as ports:
        yield ports


@pytest.fixture
async def backend_port() -> AsyncIterator[int]:
    """A backend answering `hello <path>`: its port."""
    async with serving.backends("hello") as ports:
        yield ports["hello"]
