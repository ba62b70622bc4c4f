"""`egd translate -f FILE [-o json|yaml] [--output-type status|ir|all]`: offline translation, no daemon."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import yaml

from egd.documents import read_documents
from projections.gatewayapi.offline import OUTPUT_TYPES, translate_documents


def _read_documents(source: str) -> list[tuple[Any, str]]:
    return [(sourced.document, str(sourced.source)) for sourced in read_documents(source, stdin=sys.stdin)]


@click.command("translate")
@click.option("-f", "--filename", "source", required=True, help="File or directory of documents, or - for stdin.")
@click.option("-o", "--output", "output_format", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option(
    "--output-type",
    type=click.Choice(OUTPUT_TYPES),
    default="all",
    help="What to print: statuses, the IR per Gateway, or both.",
)
def translate_command(source: str, output_format: str, output_type: str) -> None:
    """Translate documents offline and print the statuses and IR (no daemon, no NATS)."""
    output = translate_documents(_read_documents(source), output_type)
    if output_format == "json":
        click.echo(json.dumps(output, indent=2))
    else:
        click.echo(yaml.safe_dump(output, sort_keys=False, width=120), nl=False)
