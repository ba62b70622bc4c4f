"""Printing plain data as JSON or YAML, the same way in every command."""

from __future__ import annotations

from typing import Any

import click
import msgspec
import yaml


def emit(data: Any, output_format: str) -> None:
    builtins = msgspec.to_builtins(data)
    if output_format == "json":
        click.echo(msgspec.json.format(msgspec.json.encode(builtins), indent=2))
    else:
        click.echo(yaml.safe_dump(builtins, sort_keys=False, width=120).rstrip())
