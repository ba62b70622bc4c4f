"""`egd ratelimit config [-o yaml|json] [-f FILE]`: envoyproxy/ratelimit's configuration for the current state.

The configs come from the same descriptor projection `egd serve` feeds its rate-limit service and publishes
over xDS. Without `-f`, the command folds the log itself (from the data dir's NATS or `--nats-url`), so it
needs no running daemon; with `-f`, it translates documents offline. YAML output is rl's file format, one
document per domain (write each to rl's `config/` directory for a file-based deployment).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import msgspec
import yaml

from egd.client import open_store, resolve_target
from egd.commands.options import daemon_options
from egd.documents import read_documents
from egd.served import translated_log
from projections.gatewayapi.offline import resources_from_documents
from projections.gatewayapi.translator import translate
from projections.ratelimit.config import RateLimitConfig, to_yaml
from projections.ratelimit.descriptors import project


async def configs_from_log(nats_url: str) -> dict[str, RateLimitConfig]:
    store = await open_store(nats_url)
    try:
        pipeline = await translated_log(store)
    finally:
        await store.close()
    return project(pipeline.translator.gateways)


def configs_from_file(path: str) -> dict[str, RateLimitConfig]:
    documents = [(sourced.document, str(sourced.source)) for sourced in read_documents(path)]
    return project(translate(resources_from_documents(documents)).gateways)


@click.group("ratelimit")
def ratelimit_group() -> None:
    """Rate limits as the descriptor projection sees them."""


@ratelimit_group.command("config")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("-f", "--filename", default=None, help="Translate these documents offline instead of the log.")
@daemon_options
def config_command(output: str, filename: str | None, nats_url: str | None, data_dir: Path) -> None:
    """Print envoyproxy/ratelimit's configuration: one document per domain (one domain per Gateway)."""
    if filename is not None:
        configs = configs_from_file(filename)
    else:
        configs = asyncio.run(configs_from_log(resolve_target(nats_url, data_dir).nats_url))
    if output == "json":
        click.echo(msgspec.json.format(msgspec.json.encode([yaml.safe_load(to_yaml(c)) for c in configs.values()])))
        return
    click.echo("---\n".join(to_yaml(config) for config in configs.values()).rstrip())
