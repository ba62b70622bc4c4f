"""Shared fixtures: a real nats-server per test (JetStream, own store dir, free loopback port) and stores on it;
and hypothesis settings for CI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from egd.natsserver import NatsServerProcess
from events.jetstream import JetStreamEventStore

# CI runs on 2 cores shared with nats-servers and Envoys: a wall-clock deadline per example measures the machine's
# load, not the property, and turns a passing property into a flaky failure. Example counts stay as each test sets.
settings.register_profile("egd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("egd")


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    """A fresh nats-server for one test (starts in about 15 ms), stopped afterwards."""
    server = NatsServerProcess(tmp_path / "nats")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def jetstream_store(nats_server: NatsServerProcess) -> AsyncIterator[JetStreamEventStore]:
    store = await JetStreamEventStore.connect(nats_server.url)
    try:
        yield store
    finally:
        await store.close()
