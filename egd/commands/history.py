"""`egd history [KIND[/NAME]] [-n NS] [--actor A] [--source S] [--since T] [--until T] [--gateway NS/NAME]
[-o json]`: the audit trail, from the log itself, with the Gateways each change affected.

`egd history --deliveries [--node ID] [--gateway NS/NAME] [--since T] [--until T]`: the delivery audit;
`--node ID --running-at T`: the configuration that Envoy had accepted at T."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import click
import msgspec

from egd.audit.deliveries import read_deliveries
from egd.audit.records import Delivery, RunningConfig, running_config
from egd.client import open_store, resolve_target
from egd.commands.options import daemon_options
from egd.commands.points import TIME_HELP, TimeParam
from projections.history import HistoryEntry, HistoryFilter, history
from projections.resources.kinds import REGISTRY


async def read_history(nats_url: str, selection: HistoryFilter) -> list[HistoryEntry]:
    store = await open_store(nats_url)
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


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _short_type(type_url: str) -> str:
    return type_url.rsplit(".", 1)[-1]


def _echo_deliveries(deliveries: list[Delivery], output: str) -> None:
    if output == "json":
        for delivery in deliveries:
            click.echo(msgspec.json.encode(delivery))
        return
    header = ["TIME", "NODE", "GATEWAY", "KIND", "TYPE", "NONCE", "SEQ", "RESOURCES", "ERROR"]
    rows = []
    for d in deliveries:
        resources = (
            str(d.count)
            if d.kind == "sent"
            else " ".join([f"{name}@{version[:12]}" for name, version in d.resources] + [f"-{n}" for n in d.removed])
        )
        error = f"{d.error_code}: {d.error_message}" if d.kind == "nack" else ""
        seq = str(d.seq or "")
        kind = f"{d.kind} (continued)" if d.continued else d.kind
        rows.append([_time(d.at), d.node_id, d.gateway, kind, _short_type(d.type_url), d.nonce, seq, resources, error])
    _table(header, rows)


def _echo_running(running: RunningConfig, at: datetime, output: str) -> None:
    if output == "json":
        click.echo(msgspec.json.encode(running))
        return
    state = "connected" if running.connected else "not connected"
    click.echo(f"node {running.node_id} (Gateway {running.gateway or '?'}) at {_time(at)}: {state}")
    rows = [
        [_short_type(type_url), name, accepted.version[:16], str(accepted.seq), _time(accepted.at)]
        for type_url, held in sorted(running.accepted.items())
        for name, accepted in sorted(held.items())
    ]
    _table(["TYPE", "NAME", "VERSION", "SEQ", "ACKED AT"], rows)
    for type_url, refused in sorted(running.rejected.items()):
        for name, rejected in sorted(refused.items()):
            what = f"{name}@{rejected.version[:16]}" if rejected.version else f"removal of {name}"
            click.echo(
                f"NACK {_short_type(type_url)} {what} at {_time(rejected.at)} (seq {rejected.seq}): "
                f"{rejected.error_code}: {rejected.error_message}"
            )


@click.command("history")
@click.argument("resource", required=False, metavar="[KIND[/NAME]]")
@click.option("-n", "--namespace", default=None, help="Only this namespace.")
@click.option("--actor", default=None, help="Only changes made by this actor.")
@click.option("--source", default=None, help="Only changes from this source (`egd apply` matches `egd apply@host`).")
@click.option("--since", type=TimeParam(), default=None, help=TIME_HELP)
@click.option("--until", type=TimeParam(), default=None, help=TIME_HELP)
@click.option("--gateway", default=None, help="Only changes that affected (or deliveries to) this Gateway: NS/NAME.")
@click.option("--deliveries", is_flag=True, help="The delivery audit: xDS sent to each Envoy, its ACKs and NACKs.")
@click.option("--node", default=None, help="With --deliveries: only this Envoy (node id).")
@click.option(
    "--running-at",
    type=TimeParam(),
    default=None,
    help="With --deliveries --node: the configuration that Envoy had accepted at that time, and any NACK after it.",
)
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@daemon_options
def history_command(
    resource: str | None,
    namespace: str | None,
    actor: str | None,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    gateway: str | None,
    deliveries: bool,
    node: str | None,
    running_at: datetime | None,
    output: str,
    nats_url: str | None,
    data_dir: Path,
) -> None:
    """Who changed what, when, from where and why; or (--deliveries) what each Envoy was sent and accepted."""
    target = resolve_target(nats_url, data_dir)
    if deliveries or node or running_at:
        if running_at is not None:
            if node is None:
                raise click.UsageError("--running-at needs --node")
            recorded = asyncio.run(read_deliveries(target.nats_url, gateway=gateway, node_id=node, until=running_at))
            _echo_running(running_config(recorded, node), running_at, output)
            return
        recorded = asyncio.run(
            read_deliveries(target.nats_url, gateway=gateway, node_id=node, since=since, until=until)
        )
        _echo_deliveries(recorded, output)
        return
    selection = _selection(resource, namespace, actor=actor, source=source, since=since, until=until, gateway=gateway)
    entries = asyncio.run(read_history(target.nats_url, selection))
    if output == "json":
        for entry in entries:
            click.echo(msgspec.json.encode(entry))
        return
    rows = [
        [
            str(e.seq),
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.actor,
            e.source,
            e.change,
            e.resource,
            ",".join(e.gateways) or "-",
            e.reason,
        ]
        for e in entries
    ]
    _table(["SEQ", "TIME", "ACTOR", "SOURCE", "CHANGE", "RESOURCE", "GATEWAYS", "REASON"], rows)
