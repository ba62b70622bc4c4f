"""`egd replay --at SEQ|TIME` and `egd diff --from A --to B`: the log folded offline, no daemon needed.

Both read the stream from sequence 1 and fold it up to the points asked for (see `projections.replay` for
why translating the state at a point from scratch is exactly what the daemon served there).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click

from egd.client import open_store, resolve_target
from egd.commands.changes import comparison_data, echo_comparison
from egd.commands.options import daemon_options
from egd.commands.output import emit
from egd.commands.points import POINT_HELP, PointParam
from egd.snapshotter import load_newest_valid
from events.jetstream import JetStreamEventStore
from events.jetstream.snapshots import JetStreamSnapshots
from events.keys import ResourceKey
from events.schema import LogRecord
from projections.changeset import Current, current_from_records
from projections.comparison import View, compare
from projections.errors import InvalidDocumentError
from projections.pipeline import Pipeline
from projections.replay import Point, ir_documents, state_documents, view_of, xds_documents, xds_sets
from projections.xds.bootstrap import parse_gateway


async def check_point(store: JetStreamEventStore, point: Point | None) -> None:
    """Refuse a sequence past the end of the log (a time in the future simply means "now")."""
    if point is not None and point.seq is not None and point.seq > (last := await store.last_seq()):
        raise InvalidDocumentError(str(point), "", f"is past the end of the log (sequence {last})")


async def records_until(
    store: JetStreamEventStore, point: Point | None = None, *, from_seq: int = 1
) -> AsyncIterator[LogRecord]:
    """The log from `from_seq` up to `point` (the whole log when None)."""
    await check_point(store, point)
    async with contextlib.aclosing(cast(AsyncGenerator[LogRecord, None], store.read(from_seq=from_seq))) as records:
        async for record in records:
            if point is not None and not point.includes(record):
                return
            yield record


async def pipeline_from_snapshot(store: JetStreamEventStore, point: Point | None) -> Pipeline:
    """A pipeline starting from the newest valid snapshot at or before `point` (a sequence, or the end of
    the log), so that only the records after it are folded; an empty one when there is none."""
    if point is not None and point.seq is None:
        return Pipeline()  # a time: which sequence it ends at is only known by reading
    snapshots = await JetStreamSnapshots.open_existing(store)
    if snapshots is None:
        return Pipeline()
    target = point.seq if point is not None and point.seq is not None else await store.last_seq()
    return Pipeline(await load_newest_valid(snapshots, target))


async def fold_log(nats_url: str, point: Point | None = None) -> Pipeline:
    """A pipeline with the log folded up to `point` and translated from scratch."""
    store = await open_store(nats_url)
    try:
        pipeline = await pipeline_from_snapshot(store, point)
        async for record in records_until(store, point, from_seq=pipeline.state.last_seq + 1):
            pipeline.fold(record, translate=False)
    finally:
        await store.close()
    pipeline.translate_all()
    return pipeline


async def views_at(nats_url: str, points: Sequence[Point | None]) -> list[View]:
    """The view at each point (None: the end of the log), in one pass over the log."""
    pipeline = Pipeline()
    views: dict[int, View] = {}
    seqs = [p.seq for p in points if p is not None and p.seq is not None]
    until = Point(seq=max(seqs)) if len(seqs) == len(points) else None
    store = await open_store(nats_url)
    try:
        for point in points:
            await check_point(store, point)
        async for record in records_until(store, until):
            for index, point in enumerate(points):
                if index not in views and point is not None and not point.includes(record):
                    pipeline.translate_all()
                    views[index] = view_of(pipeline)
            if len(views) == len(points):
                break
            pipeline.fold(record, translate=False)
    finally:
        await store.close()
    if len(views) < len(points):
        pipeline.translate_all()
        at_end = view_of(pipeline)
        views.update({index: at_end for index in range(len(points)) if index not in views})
    return [views[index] for index in range(len(points))]


@dataclass(frozen=True, slots=True)
class LogNow:
    """The whole log folded and translated, the last record of every subject, and (when a point was
    asked for) the objects as they were at that point."""

    pipeline: Pipeline
    current: dict[str, Current]
    at_point: dict[ResourceKey, dict[str, Any]] | None


async def read_log_now(store: JetStreamEventStore, point: Point | None = None) -> LogNow:
    pipeline = Pipeline()
    at_point: dict[ResourceKey, dict[str, Any]] | None = None
    records = []
    async for record in records_until(store):
        if point is not None and at_point is None and not point.includes(record):
            at_point = {key: stored.object for key, stored in pipeline.state.objects.items()}
        pipeline.fold(record, translate=False)
        records.append(record)
    if point is not None and at_point is None:
        at_point = {key: stored.object for key, stored in pipeline.state.objects.items()}
    pipeline.translate_all()
    return LogNow(pipeline=pipeline, current=current_from_records(records), at_point=at_point)


def _gateway(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_gateway(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error
    return value


@click.command("replay")
@click.option("--at", "point", type=PointParam(), required=True, help=POINT_HELP)
@click.option("-o", "--output", type=click.Choice(["state", "ir", "xds"]), default="state", show_default=True)
@click.option("--gateway", default=None, callback=_gateway, help="Only this Gateway's IR or xDS: NAMESPACE/NAME.")
@click.option("--format", "output_format", type=click.Choice(["json", "yaml"]), default="json", show_default=True)
@daemon_options
def replay_command(
    point: Point, output: str, gateway: str | None, output_format: str, nats_url: str | None, data_dir: Path
) -> None:
    """Print the state, IR or Envoy resources as they were at a point of the log."""
    pipeline = asyncio.run(fold_log(resolve_target(nats_url, data_dir).nats_url, point))
    data: Any
    if output == "state":
        data = {"apiVersion": "v1", "kind": "List", "folded_seq": pipeline.state.last_seq}
        data["items"] = state_documents(pipeline)
    elif output == "ir":
        data = ir_documents(pipeline, gateway)
    else:
        data = xds_documents(xds_sets(pipeline, gateway))
    emit(data, output_format)


@click.command("diff")
@click.option("--from", "start", type=PointParam(), required=True, help="Sequence or time of the earlier point.")
@click.option(
    "--to", "end", type=PointParam(), default=None, help="Sequence or time of the later point (default: now)."
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["all", "state", "ir", "xds"]),
    default="all",
    show_default=True,
    help="all: objects, statuses and xDS; state: objects and statuses; ir; xds.",
)
@click.option("--gateway", default=None, callback=_gateway, help="Only this Gateway's IR or xDS: NAMESPACE/NAME.")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "yaml"]), default="text")
@daemon_options
def diff_command(
    start: Point,
    end: Point | None,
    output: str,
    gateway: str | None,
    output_format: str,
    nats_url: str | None,
    data_dir: Path,
) -> None:
    """What changed between two points: objects (field by field), statuses, IR, and xDS per Gateway."""
    target = resolve_target(nats_url, data_dir)
    before, after = asyncio.run(views_at(target.nats_url, [start, end]))
    comparison = compare(before, after)
    sections = {"all": ("objects", "statuses", "xds"), "state": ("objects", "statuses"), "ir": ("ir",)}
    shown = sections.get(output, ("xds",))
    if output_format == "text":
        echo_comparison(comparison, shown, gateway)
    else:
        emit(comparison_data(comparison, shown, gateway), output_format)
