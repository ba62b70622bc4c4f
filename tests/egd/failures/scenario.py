"""What the failure tests share: resources to publish in process (the real `egd apply` code path), and
reading a daemon's admin API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from egd.commands.apply import apply_resources, make_audit
from events.keys import ResourceKey
from tests.egd.daemon import Daemon


def service(name: str, **labels: str) -> tuple[ResourceKey, dict[str, Any]]:
    key = ResourceKey(group="", kind="Service", namespace="default", name=name)
    document = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    return key, document


async def publish(nats_url: str, resources: Sequence[tuple[ResourceKey, dict[str, Any]]]) -> None:
    await apply_resources(nats_url, resources, make_audit("failure-test", "", "apply"))


async def admin_json(daemon: Daemon, path: str) -> Any:
    return json.loads(await asyncio.to_thread(daemon.http_get, path))


async def service_names(daemon: Daemon) -> set[str]:
    objects = await admin_json(daemon, "/api/v1/objects?kind=Service")
    return {item["metadata"]["name"] for item in objects["items"]}


async def eventually(check: Callable[[], Any], *, within: float, what: str) -> Any:
    """Poll the async `check` until it returns something truthy; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not within {within}s (last: {last!r})")
