"""compose/ runs the real flags of egd: every egd command and flag it uses exists, and the Envoy bootstrap it
mounts is the one `egd bootstrap` generates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml
from click.testing import CliRunner

from egd.cli import main

COMPOSE = Path(__file__).resolve().parents[1] / "compose"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yaml").read_text())
    return document


def egd_commands() -> list[list[str]]:
    commands = []
    for name, service in compose()["services"].items():
        build = service.get("build") or {}
        if build.get("dockerfile") == "compose/Dockerfile":
            assert isinstance(service["command"], list), f"{name}: give the command as a list"
            commands.append(service["command"])
    return commands


def test_compose_runs_two_replicas_on_a_three_node_cluster() -> None:
    services = compose()["services"]
    assert {"nats-1", "nats-2", "nats-3", "redis", "egd-1", "egd-2", "envoy", "backend"} <= set(services)
    serving = [command for command in egd_commands() if command[0] == "serve"]
    assert len(serving) == 2
    for command in serving:
        assert command[command.index("--stream-replicas") + 1] == "3"
        assert len(command[command.index("--nats-url") + 1].split(",")) == 3


def test_every_egd_command_and_flag_in_compose_exists() -> None:
    for command in egd_commands():
        subcommand = main.get_command(click.Context(main), command[0])
        assert subcommand is not None, f"egd has no command {command[0]!r}"
        flags = {opt for param in subcommand.params if isinstance(param, click.Option) for opt in param.opts}
        used = [arg for arg in command[1:] if arg.startswith("-")]
        assert set(used) <= flags, f"egd {command[0]} has no {sorted(set(used) - flags)}"
        result = CliRunner().invoke(main, [command[0], "--help"])
        assert result.exit_code == 0
        for flag in used:
            assert flag in result.output


def test_mounted_envoy_bootstrap_is_what_egd_bootstrap_generates() -> None:
    text = (COMPOSE / "docker-compose.yaml").read_text()
    match = re.search(r"#\s+egd (bootstrap [^\n]+)", text)
    assert match is not None, "the compose file names the egd bootstrap command it was generated with"
    result = CliRunner().invoke(main, match.group(1).split())
    assert result.exit_code == 0, result.output
    mounted = (COMPOSE / "config" / "envoy-default-edge.yaml").read_text()
    assert yaml.safe_load(mounted) == yaml.safe_load(result.output)
    (envoy,) = [s for s in compose()["services"].values() if str(s.get("image", "")).startswith("envoyproxy/envoy")]
    assert "./config/envoy-default-edge.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]


def test_the_example_site_translates_cleanly() -> None:
    result = CliRunner().invoke(
        main, ["translate", "-f", str(COMPOSE / "config" / "site.yaml"), "-o", "json", "--output-type", "status"]
    )
    assert result.exit_code == 0, result.output
    statuses = yaml.safe_load(result.output)["statuses"]
    route = next(s for s in statuses if s["kind"] == "HTTPRoute")
    conditions = {c["type"]: c["status"] for c in route["status"]["parents"][0]["conditions"]}
    assert conditions == {"Accepted": "True", "ResolvedRefs": "True"}
