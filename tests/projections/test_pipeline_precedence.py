"""Rival routes in the daemon's pipeline: the oldest wins (Gateway API's route precedence), whatever the names;
re-creating a route makes it the youngest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from events.codec import encode_event
from events.keys import ResourceKey, subject_for
from events.schema import LogRecord, ResourceApplied, ResourceDeleted
from projections.pipeline import Pipeline
from tests.projections.test_state import T0

GOLDEN = Path(__file__).parents[1] / "testdata" / "translate" / "httproute-precedence-oldest.in.yaml"
ROUTES = {"zzz", "aaa"}


class Log:
    def __init__(self) -> None:
        self.pipeline = Pipeline()
        self.seq = 0

    def apply(self, document: dict[str, Any]) -> None:
        meta = document["metadata"]
        group = document["apiVersion"].rpartition("/")[0]
        key = ResourceKey(group=group, kind=document["kind"], namespace=meta.get("namespace", ""), name=meta["name"])
        self._fold(ResourceApplied(key=key, object=document, actor="t", occurred_at=T0))

    def delete(self, key: ResourceKey) -> None:
        self._fold(ResourceDeleted(key=key, actor="t", occurred_at=T0))

    def _fold(self, event: ResourceApplied | ResourceDeleted) -> None:
        self.seq += 1
        stored_at = T0 + timedelta(seconds=self.seq)  # each event a second after the one before
        record = LogRecord(seq=self.seq, subject=subject_for(event.key), stored_at=stored_at, data=encode_event(event))
        self.pipeline.fold(record)

    def foo_routes(self) -> list[str]:
        gateway = self.pipeline.translator.gateway("default/gw")
        assert gateway is not None
        return [r.name.split("/")[2] for x in gateway.http for v in x.virtual_hosts for r in v.routes]


def test_the_oldest_route_wins_and_a_recreated_one_is_the_youngest() -> None:
    log = Log()
    documents = [d for d in yaml.safe_load_all(GOLDEN.read_text()) if d["kind"] != "BackendTrafficPolicy"]
    for document in documents:  # zzz is folded before aaa: zzz is older (the documents' timestamps play no part)
        document["metadata"].pop("creationTimestamp", None)
        log.apply(document)
    assert log.foo_routes() == ["zzz", "aaa"]
    zzz = next(d for d in documents if d["metadata"]["name"] == "zzz")
    log.apply({**zzz, "metadata": {**zzz["metadata"], "labels": {"changed": "yes"}}})  # a change keeps its age
    assert log.foo_routes() == ["zzz", "aaa"]
    log.delete(ResourceKey(group="gateway.networking.k8s.io", kind="HTTPRoute", namespace="default", name="zzz"))
    log.apply(zzz)
    assert log.foo_routes() == ["aaa", "zzz"]
