"""`egd translate -f FILE [-o json|yaml] [--output-type status|ir|xds|all]`: offline translation, no daemon."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import yaml

from egd.documents import read_documents
from projections import ir
from projections.gatewayapi.offline import OUTPUT_TYPES, resources_from_documents, translate_documents
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.translator import translate
from projections.xds.translate import XdsTranslator, build_resource_set
from projections.xds.translate.render import resource_documents


def xds_output(documents: list[tuple[Any, str]], options: TranslateOptions | None = None) -> dict[str, Any]:
    """Per Gateway (node group), its Envoy resources as proto3 JSON, sorted by type URL and name."""
    gateways = translate(resources_from_documents(documents), options).gateways
    return {
        "xds": [
            {"gateway": name, "resources": resource_documents(build_resource_set(gateways[name]))}
            for name in sorted(gateways)
        ]
    }


def patch_outcomes(gateway: ir.GatewayIR) -> dict[str, str | None]:
    return XdsTranslator().apply(gateway).patch_outcomes


def _read_documents(source: str) -> list[tuple[Any, str]]:
    return [(sourced.document, str(sourced.source)) for sourced in read_documents(source, stdin=sys.stdin)]


@click.command("translate")
@click.option("-f", "--filename", "source", required=True, help="File or directory of documents, or - for stdin.")
@click.option("-o", "--output", "output_format", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option(
    "--output-type",
    type=click.Choice([*OUTPUT_TYPES, "xds"]),
    default="all",
    help="What to print: statuses, the IR per Gateway, both (all), or the Envoy resources per Gateway (xds).",
)
@click.option(
    "--enable-envoy-patch-policy",
    is_flag=True,
    help="Apply EnvoyPatchPolicies to the generated xDS (off: they are reported Disabled).",
)
def translate_command(source: str, output_format: str, output_type: str, enable_envoy_patch_policy: bool) -> None:
    """Translate documents offline and print the statuses and IR (no daemon, no NATS)."""
    documents = _read_documents(source)
    options = TranslateOptions(envoy_patch_policy=enable_envoy_patch_policy)
    if output_type == "xds":
        output = xds_output(documents, options)
    else:
        output = translate_documents(documents, output_type, options, patch_outcomes)
    if output_format == "json":
        click.echo(json.dumps(output, indent=2))
    else:
        click.echo(yaml.safe_dump(output, sort_keys=False, width=120), nl=False)
