"""`egd get KIND [NAME] [-n NS | -A] [-o yaml|json|wide]`: what the daemon folded.

With a daemon known from the data dir, objects come from its admin API once it has folded everything in
the log now (so `get` always reads the writes that came before it); with only `--nats-url`, `get` folds
the log itself with the same projection.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec
import yaml

from egd.client import Target, open_store, resolve_target
from egd.commands.options import daemon_options
from egd.served import fetch_objects, translated_log
from projections.resources.kinds import REGISTRY


async def read_objects(target: Target, query: dict[str, str]) -> list[dict[str, Any]]:
    store = await open_store(target.nats_url)
    try:
        if target.admin_url is not None:
            return await fetch_objects(target.admin_url, min_seq=await store.last_seq(), query=query)
        pipeline = await translated_log(store)
    finally:
        await store.close()
    return [
        pipeline.document(stored)
        for key, stored in sorted(pipeline.state.objects.items())
        if all(getattr(key, field) == value for field, value in query.items())
    ]


def _age(document: dict[str, Any], now: datetime) -> str:
    created = datetime.fromisoformat(document["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    seconds = int((now - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(documents: list[dict[str, Any]], *, all_namespaces: bool, wide: bool) -> str:
    now = datetime.now(UTC)
    header = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "GENERATION", "REVISION", "AGE"]
    rows = []
    for document in documents:
        meta = document["metadata"]
        row = [meta.get("namespace", "")] if all_namespaces else []
        row += [meta["name"], str(meta["generation"]), meta["resourceVersion"], _age(document, now)]
        rows.append(row)
    if wide:
        header.append("KIND")
        for row, document in zip(rows, documents, strict=True):
            row.append(document["kind"])
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    )


@click.command("get")
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-o", "--output", type=click.Choice(["table", "yaml", "json", "wide"]), default="table")
@daemon_options
def get_command(
    kind: str,
    name: str | None,
    namespace: str,
    all_namespaces: bool,
    output: str,
    nats_url: str | None,
    data_dir: Path,
) -> None:
    """Show current objects as the daemon folded them."""
    info = REGISTRY.resolve(kind)
    if info is None:
        raise click.BadParameter(f"unknown kind {kind!r}", param_hint="KIND")
    query = {"kind": info.kind}
    if info.namespaced and not all_namespaces:
        query["namespace"] = namespace
    if name:
        query["name"] = name
    documents = asyncio.run(read_objects(resolve_target(nats_url, data_dir), query))
    if name and not documents:
        where = f" in namespace {namespace}" if info.namespaced else ""
        raise click.ClickException(f'{info.kind} "{name}" not found{where}')
    if output in ("yaml", "json"):
        body: Any = documents[0] if name else {"apiVersion": "v1", "kind": "List", "items": documents}
        if output == "json":
            click.echo(msgspec.json.format(msgspec.json.encode(body), indent=2))
        else:
            click.echo(yaml.safe_dump(body, sort_keys=False).rstrip())
    elif not documents:
        click.echo(
            f"No {info.plural} found" + (f" in namespace {namespace}." if "namespace" in query else "."), err=True
        )
    else:
        click.echo(_table(documents, all_namespaces=all_namespaces and info.namespaced, wide=output == "wide"))
