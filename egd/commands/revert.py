"""`egd revert --to SEQ|TIME [--dry-run]`: publish, as ordinary audited events, the changes that bring the
state back to what it was at that point. Every event expects the resource's current revision, so a change
published meanwhile makes the revert fail (nothing is published) rather than be overwritten."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from egd.client import open_store, resolve_target
from egd.commands.apply import make_audit, report_plan
from egd.commands.changes import echo_comparison
from egd.commands.options import audit_options, daemon_options
from egd.commands.points import POINT_HELP, PointParam
from egd.commands.replay import check_point, read_log_now
from projections.changeset import Audit, PlannedChange, plan_revert
from projections.comparison import Comparison
from projections.replay import Point, what_if


async def revert_to(
    nats_url: str, point: Point, audit: Audit, *, dry_run: bool
) -> tuple[list[PlannedChange], Comparison]:
    store = await open_store(nats_url)
    try:
        await check_point(store, point)
        now = await read_log_now(store, point)
        assert now.at_point is not None
        objects = {key: stored.object for key, stored in now.pipeline.state.objects.items()}
        plan = plan_revert(now.at_point, objects, now.current, audit)
        appends = [change.append for change in plan if change.append is not None]
        outcome = what_if(now.pipeline, [append.event for append in appends], audit.occurred_at)
        if not dry_run and appends:
            await store.append(appends)
        return plan, outcome
    finally:
        await store.close()


@click.command("revert")
@click.option("--to", "point", type=PointParam(), required=True, help=POINT_HELP)
@click.option("--dry-run", is_flag=True, help="Print what would be published, publish nothing.")
@daemon_options
@audit_options
def revert_command(
    point: Point, dry_run: bool, nats_url: str | None, data_dir: Path, actor: str | None, reason: str
) -> None:
    """Publish the changes that restore the state of a point of the log (as new, audited events)."""
    target = resolve_target(nats_url, data_dir)
    why = f"revert to {point}" + (f": {reason}" if reason else "")
    audit = make_audit(actor, why, "revert")
    plan, outcome = asyncio.run(revert_to(target.nats_url, point, audit, dry_run=dry_run))
    if not plan:
        click.echo(f"nothing to revert: the state is already as it was at {point}")
        return
    report_plan(plan, dry_run=dry_run)
    if dry_run:
        echo_comparison(outcome, ("objects", "statuses", "xds"), None)
