"""Golden files: tests/testdata/xds/<case>.in.yaml (Gateway API documents) -> <case>.out.yaml (Envoy resources).

Each case goes through the Gateway API translator to IR, then `build_resource_set`; the output is every
resource of every Gateway as proto3 JSON (`json_format`), sorted by type URL and name.
Regenerate with `EGD_UPDATE_GOLDENS=1 python3 -m pytest tests/projections/xds/test_translate_golden.py`
and review the diff by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.ir import GatewayIR
from projections.xds.translate import XdsTranslator, build_resource_set
from projections.xds.translate.render import resource_documents
from tests.projections.gatewayapi.test_translate_golden import options_for

CASES = Path(__file__).resolve().parents[2] / "testdata" / "xds"
UPDATE = os.environ.get("EGD_UPDATE_GOLDENS") == "1"


def gateways_of(path: Path) -> dict[str, GatewayIR]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    positioned = [(d, f"{path.name}, document {i + 1}") for i, d in enumerate(documents)]
    return translate(resources_from_documents(positioned), options_for(path.name)).gateways


def render(gateways: dict[str, GatewayIR]) -> str:
    output: list[dict[str, Any]] = [
        {"gateway": name, "resources": resource_documents(build_resource_set(gateways[name]))}
        for name in sorted(gateways)
    ]
    return yaml.safe_dump(output, sort_keys=False, width=120)


CASE_NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_golden(case: str) -> None:
    rendered = render(gateways_of(CASES / f"{case}.in.yaml"))
    golden = CASES / f"{case}.out.yaml"
    if UPDATE or not golden.exists():
        golden.write_text(rendered)
    assert rendered == golden.read_text()


@pytest.mark.parametrize("case", CASE_NAMES)
def test_incremental_from_nothing_equals_from_scratch(case: str) -> None:
    """Every golden IR reached by updating a translator that served another golden IR before."""
    for name, gateway in gateways_of(CASES / f"{case}.in.yaml").items():
        translator = XdsTranslator()
        translator.update(next(iter(gateways_of(CASES / "mixed-listeners-one-gateway.in.yaml").values())))
        assert translator.update(gateway) == build_resource_set(gateway), name


def test_there_are_enough_cases() -> None:
    assert len(CASE_NAMES) >= 20
