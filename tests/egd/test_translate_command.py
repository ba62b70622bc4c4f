from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from egd.cli import main

CASE = Path(__file__).resolve().parents[1] / "testdata" / "translate" / "httproute-basic.in.yaml"


def test_translate_prints_the_golden_output() -> None:
    result = CliRunner().invoke(main, ["translate", "-f", str(CASE)])
    assert result.exit_code == 0, result.output
    golden = CASE.with_name("httproute-basic.out.yaml").read_text()
    assert yaml.safe_load(result.output) == yaml.safe_load(golden)


def test_translate_json_status_only() -> None:
    result = CliRunner().invoke(main, ["translate", "-f", str(CASE), "-o", "json", "--output-type", "status"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert list(output) == ["statuses"]
    assert {s["kind"] for s in output["statuses"]} == {"GatewayClass", "Gateway", "HTTPRoute"}


def test_translate_names_the_bad_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n")
    result = CliRunner().invoke(main, ["translate", "-f", str(bad)])
    assert result.exit_code == 1
    assert "Gateway default/g" in result.output
    assert "$.spec" in result.output
    assert "gatewayClassName" in result.output


def test_translate_xds_prints_resources_sorted_by_type_and_name() -> None:
    result = CliRunner().invoke(main, ["translate", "-f", str(CASE), "-o", "json", "--output-type", "xds"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert [g["gateway"] for g in output["xds"]] == ["envoy-gateway/gateway-1"]
    resources = output["xds"][0]["resources"]
    keys = [(r["type_url"], r["name"]) for r in resources]
    assert keys == sorted(keys)
    assert {r["type_url"].rsplit(".", 1)[-1] for r in resources} == {
        "Cluster",
        "ClusterLoadAssignment",
        "Listener",
        "RouteConfiguration",
    }
    golden = yaml.safe_load((CASE.parents[1] / "xds" / "httproute-basic.out.yaml").read_text())
    assert resources == golden[0]["resources"]
