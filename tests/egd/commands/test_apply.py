"""`egd apply`'s planning against the log, in process: one object among many reads its own history only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from egd.commands.apply import apply_resources, delete_resources, make_audit
from egd.natsserver import NatsServerProcess
from events.keys import ResourceKey


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[NatsServerProcess]:
    async with NatsServerProcess(tmp_path / "nats") as server:
        yield server


def route(name: str, path: str) -> tuple[ResourceKey, dict[str, object]]:
    key = ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name=name)
    document = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}]}]},
    }
    return key, document


async def test_one_object_is_planned_against_its_own_latest_event(nats: NatsServerProcess) -> None:
    audit = make_audit("tests", "", "apply")
    many = [route(f"r{i}", f"/r{i}") for i in range(20)]
    assert {c.verb for c in await apply_resources(nats.url, many, audit)} == {"created"}
    assert [c.verb for c in await apply_resources(nats.url, [route("r7", "/r7")], audit)] == ["unchanged"]
    assert [c.verb for c in await apply_resources(nats.url, [route("r7", "/moved")], audit)] == ["configured"]
    assert [c.verb for c in await apply_resources(nats.url, [route("new", "/new")], audit)] == ["created"]
    key, _ = route("r7", "")
    assert [c.verb for c in await delete_resources(nats.url, [key], audit, ignore_not_found=False)] == ["deleted"]
    assert [c.verb for c in await apply_resources(nats.url, [route("r7", "/moved")], audit)] == ["created"]
