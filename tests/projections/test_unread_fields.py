"""The fields of a document its model does not read: misspellings, or features egd does not support."""

from __future__ import annotations

from pathlib import Path

import yaml

from projections.resources.decode import decode_resource
from projections.resources.gatewayapi import HTTPRoute
from projections.resources.unread import unread_fields

TESTDATA = Path(__file__).parents[1] / "testdata"


def test_misspelt_fields_are_found_at_any_depth_and_metadata_and_status_are_not_checked() -> None:
    document = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "uid": "0f1e", "resourceVersion": "7"},
        "status": {"parents": []},
        "spec": {
            "parentRefs": [{"name": "g"}],
            "rulez": [],
            "rules": [
                {
                    "matchs": [{"path": {"value": "/x"}}],
                    "backendRefs": [{"name": "s", "port": 80, "wieght": 3}],
                    "timeouts": {"request": "1s", "idle": "2s"},
                }
            ],
        },
    }
    assert unread_fields(document, HTTPRoute) == [
        "spec.rulez",
        "spec.rules[0].matchs",
        "spec.rules[0].backendRefs[0].wieght",
        "spec.rules[0].timeouts.idle",
    ]


def test_the_gateway_api_and_envoy_gateway_examples_have_none() -> None:
    """Not a warning for every object: what egd's own examples use, it reads."""
    checked = 0
    for path in sorted(TESTDATA.rglob("*.in.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or "gateway" not in str(document.get("apiVersion", "")):
                continue
            resource = decode_resource(document, str(path))
            assert unread_fields(document, type(resource.model)) == [], path
            checked += 1
    assert checked > 100
