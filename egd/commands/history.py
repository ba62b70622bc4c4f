"""`egd history [KIND/NAME] [--since T] [--until T] [-o json]`: the audit trail, from the log itself."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import click
import msgspec

from egd.client import open_store, resolve_target
from egd.commands.options import daemon_options
from egd.commands.points import TimeParam
from events.jetstream.auth import NO_AUTH, NatsAuth
from projections.history import HistoryEntry, HistoryFilter, history
from projections.resources.kinds import REGISTRY


async def read_history(nats_url: str, selection: HistoryFilter, *, auth: NatsAuth = NO_AUTH) -> list[HistoryEntry]:
    store = await open_store(nats_url, auth=auth)
    try:
        return history([record async for record in store.read()], selection)
    finally:
        await store.close()


def _selection(resource: str | None, namespace: str | None, **rest: object) -> HistoryFilter:
    kind = name = None
    if resource:
        kind_text, _, name_text = resource.partition("/")
        info = REGISTRY.resolve(kind_text)
        if info is None:
            raise click.BadParameter(f"unknown kind {kind_text!r}", param_hint="KIND/NAME")
        kind, name = info.kind, name_text or None
    return msgspec.convert({"kind": kind, "name": name, "namespace": namespace, **rest}, HistoryFilter)


@click.command("history")
@click.argument("resource", required=False, metavar="[KIND[/NAME]]")
@click.option("-n", "--namespace", default=None, help="Only this namespace.")
@click.option("--actor", default=None, help="Only changes made by this actor.")
@click.option("--source", default=None, help="Only changes from this source.")
@click.option("--since", type=TimeParam(), default=None, help="RFC 3339 or relative (-2h).")
@click.option("--until", type=TimeParam(), default=None, help="RFC 3339 or relative (-2h).")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@daemon_options
def history_command(
    resource: str | None,
    namespace: str | None,
    actor: str | None,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    output: str,
    nats_url: str | None,
    data_dir: Path,
    nats_auth: NatsAuth,
) -> None:
    """Who changed what, when, from where and why."""
    selection = _selection(resource, namespace, actor=actor, source=source, since=since, until=until)
    target = resolve_target(nats_url, data_dir, nats_auth)
    entries = asyncio.run(read_history(target.nats_url, selection, auth=target.auth))
    if output == "json":
        for entry in entries:
            click.echo(msgspec.json.encode(entry))
        return
    header = ["SEQ", "TIME", "ACTOR", "SOURCE", "CHANGE", "RESOURCE", "REASON"]
    rows = [
        [str(e.seq), e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), e.actor, e.source, e.change, e.resource, e.reason]
        for e in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
