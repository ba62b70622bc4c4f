"""Events for store and codec tests."""

from __future__ import annotations

from datetime import UTC, datetime

from events.keys import ResourceKey
from events.schema import ResourceApplied, ResourceDeleted
from events.store import Append

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def config_map_key(name: str, namespace: str = "default") -> ResourceKey:
    return ResourceKey(group="", kind="ConfigMap", namespace=namespace, name=name)


def applied(name: str, *, namespace: str = "default", data: str = "v", reason: str = "") -> ResourceApplied:
    key = config_map_key(name, namespace)
    document = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}
    return ResourceApplied(
        key=key, actor="tester", reason=reason, occurred_at=WHEN, object={**document, "data": {"k": data}}
    )


def deleted(name: str, *, namespace: str = "default") -> ResourceDeleted:
    return ResourceDeleted(key=config_map_key(name, namespace), actor="tester", occurred_at=WHEN)


def appends(*names: str, data: str = "v") -> list[Append]:
    return [Append(event=applied(name, data=data)) for name in names]
