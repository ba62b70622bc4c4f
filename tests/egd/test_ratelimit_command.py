"""`egd ratelimit config`: rl's YAML for the documents' rate limits, that rl's own loader accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from projections.ratelimit.config import from_yaml
from tests.egd.daemon import egd

CASE = Path(__file__).resolve().parents[1] / "testdata" / "xds" / "ratelimit-global.in.yaml"


def test_ratelimit_config_yaml_from_documents() -> None:
    result = egd("ratelimit", "config", "-f", str(CASE), check=True)
    (document,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert document["domain"] == "default/gw"
    config = from_yaml(result.stdout, "egd")  # rl's key check and validation
    assert [d.value for d in config.descriptors] == [f"default/limits/rule-{i}" for i in range(4)]
    assert config.descriptors[0].rate_limit is not None
    assert config.descriptors[0].rate_limit.requests_per_unit == 3


def test_ratelimit_config_json() -> None:
    result = egd("ratelimit", "config", "-f", str(CASE), "-o", "json", check=True)
    assert '"domain": "default/gw"' in result.stdout
