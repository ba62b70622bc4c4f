from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from egd.cli import main
from egd.commands.bootstrap import bootstrap_command
from egd.natsserver import pick_free_port


def test_bootstrap_names_the_gateway_and_lists_every_xds_address() -> None:
    result = CliRunner().invoke(
        bootstrap_command,
        [
            "--gateway",
            "prod/edge",
            "--xds-address",
            "10.0.0.1:18000",
            "--xds-address",
            "egd.example:18000",
            "--admin-port",
            "9000",
            "--node-id",
            "edge-0",
        ],
    )
    assert result.exit_code == 0, result.output
    bootstrap = yaml.safe_load(result.output)
    assert bootstrap["node"] == {"id": "edge-0", "cluster": "prod/edge"}
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert bootstrap["admin"]["address"]["socket_address"]["port_value"] == 9000
    (xds,) = bootstrap["static_resources"]["clusters"]
    assert xds["type"] == "STRICT_DNS"
    addresses = [
        e["endpoint"]["address"]["socket_address"] for e in xds["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert addresses == [{"address": "10.0.0.1", "port_value": 18000}, {"address": "egd.example", "port_value": 18000}]


def test_bootstrap_defaults_and_usage_errors() -> None:
    result = CliRunner().invoke(bootstrap_command, ["--gateway", "default/eg"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)["node"]["id"] == "default-eg"
    for bad in (["--gateway", "eg"], ["--gateway", "a/b", "--xds-address", "nohost"]):
        failed = CliRunner().invoke(bootstrap_command, bad)
        assert failed.exit_code == 2
        assert "Invalid value" in failed.output


def test_bootstrap_without_a_daemon_is_the_plain_bootstrap(tmp_path: Path) -> None:
    """No --nats-url and no daemon recorded in the data dir: the bootstrap as it always was, no metrics."""
    result = CliRunner().invoke(bootstrap_command, ["--gateway", "default/eg", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    bootstrap = yaml.safe_load(result.output)
    assert "stats_sinks" not in bootstrap
    assert "stats_config" not in bootstrap
    assert [c["name"] for c in bootstrap["static_resources"]["clusters"]] == ["egd_xds"]


def test_bootstrap_with_an_unreachable_nats_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["bootstrap", "--gateway", "default/eg", "--nats-url", f"nats://127.0.0.1:{pick_free_port()}"],
    )
    assert result.exit_code == 3, result.output
