"""What Gateway API tooling checks on every status, asserted over every golden case's input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from projections.gatewayapi.offline import translate_documents
from projections.gatewayapi.status import CONTROLLER_NAME

CASES = sorted((Path(__file__).resolve().parents[2] / "testdata" / "translate").glob("*.in.yaml"))


def conditions_of(status: dict) -> list[dict]:
    found = list(status.get("conditions", []))
    for listener in status.get("listeners", []):
        found.extend(listener["conditions"])
    for parent in status.get("parents", []):
        found.extend(parent["conditions"])
    return found


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name.removesuffix(".in.yaml"))
def test_status_carries_what_tooling_checks(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    generations = {
        (
            d["kind"],
            d["metadata"].get("namespace", "default") if d["kind"] != "GatewayClass" else "",
            d["metadata"]["name"],
        ): d["metadata"].get("generation", 1)
        for d in documents
    }
    parent_refs = {
        (d["metadata"].get("namespace", "default"), d["metadata"]["name"]): d["spec"].get("parentRefs", [])
        for d in documents
        if d["kind"].endswith("Route")
    }
    output = translate_documents([(d, path.name) for d in documents])
    for status_doc in output["statuses"]:
        meta = status_doc["metadata"]
        kind, status = status_doc["kind"], status_doc["status"]
        generation = generations[(kind, meta.get("namespace", ""), meta["name"])]
        for condition in conditions_of(status):
            assert condition["observedGeneration"] == generation
            assert condition["lastTransitionTime"] == "1970-01-01T00:00:00Z"
            assert condition["status"] in ("True", "False")
        if kind == "Gateway":
            assert status["addresses"]
            assert all(a["type"] and a["value"] for a in status["addresses"])
            assert {c["type"] for c in status["conditions"]} == {"Accepted", "Programmed"}
            for listener in status["listeners"]:
                assert {c["type"] for c in listener["conditions"]} == {
                    "Accepted",
                    "Conflicted",
                    "Programmed",
                    "ResolvedRefs",
                }
        if kind.endswith("Route"):
            given = parent_refs[(meta["namespace"], meta["name"])]
            for parent in status["parents"]:
                assert parent["controllerName"] == CONTROLLER_NAME
                assert {c["type"] for c in parent["conditions"]} == {"Accepted", "ResolvedRefs"}
                ref = parent["parentRef"]
                # the parentRef exactly as given, with the API's defaults for group and kind
                match = [
                    g
                    for g in given
                    if g["name"] == ref["name"]
                    and g.get("namespace") == ref.get("namespace")
                    and g.get("sectionName") == ref.get("sectionName")
                    and g.get("port") == ref.get("port")
                ]
                assert match, ref
                assert ref["group"] == match[0].get("group", "gateway.networking.k8s.io")
                assert ref["kind"] == match[0].get("kind", "Gateway")
