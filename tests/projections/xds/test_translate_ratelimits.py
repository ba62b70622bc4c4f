"""Rate limits in xDS: a policy change touches its own route's configuration only; the first global limit
brings the ratelimit filter and the egd-ratelimit cluster, and they leave with the last one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import Deleted, Translator
from projections.xds.resources import CLUSTER, LISTENER, ROUTE_CONFIGURATION
from projections.xds.translate import XdsTranslator
from projections.xds.translate.ratelimits import RATELIMIT_CLUSTER

CASE = Path(__file__).resolve().parents[2] / "testdata" / "xds" / "ratelimit-global.in.yaml"


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CASE.read_text()) if d]


def policy(requests: int) -> dict[str, Any]:
    (found,) = [d for d in documents() if d["kind"] == "BackendTrafficPolicy"]
    found["spec"]["rateLimit"]["global"]["rules"][0]["limit"]["requests"] = requests
    return found


def test_a_limit_change_touches_only_route_configurations() -> None:
    translator = Translator()
    translator.apply(resources_from_documents([(d, "doc") for d in documents()]))
    xds = XdsTranslator()
    before = xds.apply(translator.gateways["default/gw"]).resources
    translator.apply(resources_from_documents([(policy(30), "changed")]))
    update = xds.apply(translator.gateways["default/gw"])
    assert {t for t, c in update.changes.items() if c.updated or c.removed} == {ROUTE_CONFIGURATION}
    assert update.resources.of_type(LISTENER) is before.of_type(LISTENER)


def test_filter_and_cluster_follow_the_first_and_last_global_limit() -> None:
    translator = Translator()
    translator.apply(resources_from_documents([(d, "doc") for d in documents()]))
    xds = XdsTranslator()
    assert RATELIMIT_CLUSTER in xds.apply(translator.gateways["default/gw"]).resources.of_type(CLUSTER)
    changes = translator.apply([Deleted(key=resources_from_documents([(policy(3), "p")])[0].key)])
    assert changes.gateways == ("default/gw",)
    update = xds.apply(translator.gateways["default/gw"])
    assert RATELIMIT_CLUSTER in update.changes[CLUSTER].removed
    assert update.changes[LISTENER].updated  # the HTTP connection manager loses its ratelimit filter
