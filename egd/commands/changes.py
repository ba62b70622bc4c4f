"""Printing a `Comparison` (what `egd diff`, `apply --dry-run` and `revert --dry-run` show)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import msgspec

from projections.comparison import Comparison, FieldChange

_SIGNS = {"added": "+", "removed": "-", "changed": "~"}


def _value(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= 100 else text[:97] + "..."


def _field_line(change: FieldChange) -> str:
    sign = _SIGNS[change.op]
    if change.op == "added":
        return f"      {sign} {change.path}: {_value(change.after)}"
    if change.op == "removed":
        return f"      {sign} {change.path}: {_value(change.before)}"
    return f"      {sign} {change.path}: {_value(change.before)} -> {_value(change.after)}"


def _short_type(type_url: str) -> str:
    return type_url.rsplit(".", 1)[-1]


def comparison_data(comparison: Comparison, sections: Sequence[str], gateway: str | None) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(comparison)
    if gateway is not None:
        data["ir"] = [change for change in data["ir"] if change["resource"] == gateway]
        data["xds"] = [change for change in data["xds"] if change["gateway"] == gateway]
    return {section: data[section] for section in sections}


def echo_comparison(comparison: Comparison, sections: Sequence[str], gateway: str | None) -> None:
    data = comparison_data(comparison, sections, gateway)
    if not any(data.values()):
        click.echo("no changes")
        return
    if data.get("objects"):
        click.echo("objects:")
        for change in comparison.objects:
            click.echo(f"  {change.change:<8} {change.resource}")
            for field in change.fields:
                click.echo(_field_line(field))
    if data.get("statuses"):
        click.echo("statuses:")
        for status in comparison.statuses:
            click.echo(f"  {status.resource}")
            for field in status.fields:
                click.echo(_field_line(field))
    if data.get("ir"):
        click.echo("ir:")
        for gateway_ir in comparison.ir:
            if gateway is None or gateway_ir.resource == gateway:
                click.echo(f"  {gateway_ir.resource}")
                for field in gateway_ir.fields:
                    click.echo(_field_line(field))
    if data.get("xds"):
        click.echo("xds:")
        for xds in comparison.xds:
            if gateway is not None and xds.gateway != gateway:
                continue
            click.echo(f"  {xds.gateway} {xds.change}")
            for type_change in xds.types:
                for verb in ("added", "changed", "removed"):
                    names = getattr(type_change, verb)
                    if names:
                        click.echo(f"      {_short_type(type_change.type_url)} {verb}: {', '.join(names)}")
