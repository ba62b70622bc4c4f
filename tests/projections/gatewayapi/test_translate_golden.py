"""Golden files: tests/testdata/translate/<case>.in.yaml -> <case>.out.yaml (statuses and IR).

Regenerate with `EGD_UPDATE_GOLDENS=1 python3 -m pytest tests/projections/gatewayapi/test_translate_golden.py`
and review the diff by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from projections import ir
from projections.gatewayapi.offline import translate_documents
from projections.gatewayapi.options import TranslateOptions
from projections.xds.translate import XdsTranslator

CASES = Path(__file__).resolve().parents[2] / "testdata" / "translate"
UPDATE = os.environ.get("EGD_UPDATE_GOLDENS") == "1"


def options_for(case: str) -> TranslateOptions:
    """EnvoyPatchPolicies are enabled in every case but those named `*-disabled*`."""
    return TranslateOptions(envoy_patch_policy="-disabled" not in case)


def patch_outcomes(gateway: ir.GatewayIR) -> dict[str, str | None]:
    return XdsTranslator().apply(gateway).patch_outcomes


def render(path: Path) -> str:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    positioned = [(d, f"{path.name}, document {i + 1}") for i, d in enumerate(documents)]
    output = translate_documents(positioned, options=options_for(path.name), patch_outcomes=patch_outcomes)
    return yaml.safe_dump(output, sort_keys=False, width=120)


@pytest.mark.parametrize("case", sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml")))
def test_golden(case: str) -> None:
    rendered = render(CASES / f"{case}.in.yaml")
    golden = CASES / f"{case}.out.yaml"
    if UPDATE or not golden.exists():
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def test_there_are_enough_cases() -> None:
    assert len(list(CASES.glob("*.in.yaml"))) >= 60
