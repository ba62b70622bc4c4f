"""`egd apply` and `egd delete`: documents in, audited events out.

Every document is validated before anything is published; a write whose resource changed since it was
read is refused by the log (optimistic concurrency), never merged.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from egd.client import open_store, resolve_target
from egd.commands.options import audit_options, daemon_options
from egd.documents import decode_documents, read_documents
from events.jetstream import JetStreamEventStore
from events.keys import ResourceKey, subject_filter, subject_for
from projections.changeset import Audit, Current, PlannedChange, current_from_records, plan_apply, plan_delete
from projections.errors import InvalidDocumentError
from projections.resources.decode import DecodedResource, describe_document
from projections.resources.envoygateway import GROUP as ENVOY_GATEWAY_GROUP
from projections.resources.kinds import REGISTRY
from projections.resources.policy import GATEWAY_API_GROUP
from projections.resources.unread import unread_fields

if TYPE_CHECKING:
    from projections.comparison import Comparison


def make_audit(actor: str | None, reason: str, command: str) -> Audit:
    return Audit(
        actor=actor or getpass.getuser(),
        source=f"egd {command}@{socket.gethostname()}",
        reason=reason,
        correlation_id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
    )


def _filter_for(keys: Sequence[ResourceKey]) -> str:
    if len(keys) == 1:
        return subject_for(keys[0])  # one subject to read, however many objects of its kind the log holds
    kinds = {key.kind for key in keys}
    return subject_filter(next(iter(kinds))) if len(kinds) == 1 else subject_filter()


async def _read_current(store: JetStreamEventStore, keys: Sequence[ResourceKey]) -> dict[str, Current]:
    """The last event of each subject that `keys` name."""
    wanted = {subject_for(key) for key in keys}
    return current_from_records(
        [r async for r in store.read_latest_per_subject(_filter_for(keys)) if r.subject in wanted]
    )


async def apply_resources(
    nats_url: str, resources: Sequence[tuple[ResourceKey, dict[str, Any]]], audit: Audit
) -> list[PlannedChange]:
    store = await open_store(nats_url)
    try:
        current = await _read_current(store, [key for key, _ in resources])
        plan = plan_apply(resources, current, audit)
        await store.append([change.append for change in plan if change.append is not None])
        return plan
    finally:
        await store.close()


async def what_if_applied(
    nats_url: str, plan_for: Callable[[dict[str, Current]], list[PlannedChange]], audit: Audit
) -> tuple[list[PlannedChange], Comparison]:
    """The plan against the whole log folded now, and what it would change; nothing is published."""
    # imported here, not above: the translation stack a what-if needs would double every apply's start-up
    from egd.commands.replay import read_log_now
    from projections.replay import what_if

    store = await open_store(nats_url)
    try:
        now = await read_log_now(store)
    finally:
        await store.close()
    plan = plan_for(now.current)
    events = [change.append.event for change in plan if change.append is not None]
    return plan, what_if(now.pipeline, events, audit.occurred_at)


async def delete_resources(
    nats_url: str,
    keys: Sequence[ResourceKey],
    audit: Audit,
    *,
    ignore_not_found: bool,
) -> list[PlannedChange]:
    store = await open_store(nats_url)
    try:
        plan = _deletions(keys, await _read_current(store, keys), audit, ignore_not_found=ignore_not_found)
        await store.append([change.append for change in plan if change.append is not None])
        return plan
    finally:
        await store.close()


def _deletions(
    keys: Sequence[ResourceKey], current: dict[str, Current], audit: Audit, *, ignore_not_found: bool
) -> list[PlannedChange]:
    """The deletions of `keys`; raises InvalidDocumentError naming those that do not exist, unless ignored."""
    plan = plan_delete(keys, current, audit)
    missing = [str(change.key) for change in plan if change.verb == "not found"]
    if missing and not ignore_not_found:
        raise InvalidDocumentError(", ".join(missing), "", "not found; nothing was deleted")
    return plan


def report_plan(plan: Sequence[PlannedChange], *, dry_run: bool = False) -> None:
    suffix = " (dry run)" if dry_run else ""
    for change in plan:
        group = f".{change.key.group}" if change.key.group else ""
        click.echo(f"{change.key.kind.lower()}{group}/{change.key.name} {change.verb}{suffix}")


def _report_what_if(plan: list[PlannedChange], outcome: Comparison) -> None:
    from egd.commands.changes import echo_comparison  # see `what_if_applied`

    report_plan(plan, dry_run=True)
    echo_comparison(outcome, ("statuses", "xds"), None)


_CHECKED_GROUPS = frozenset({GATEWAY_API_GROUP, ENVOY_GATEWAY_GROUP})


def _load(filenames: Sequence[str], *, warn_unread: bool = False) -> list[tuple[ResourceKey, dict[str, Any]]]:
    """Every document of every `-f`, all validated before anything is published."""
    sourced = [document for filename in filenames for document in read_documents(filename, stdin=sys.stdin)]
    if not sourced:
        raise InvalidDocumentError(", ".join(filenames), "", "no objects to process")
    decoded = decode_documents(sourced)
    if warn_unread:
        for resource in decoded:
            _warn_unread(resource)
    return [(resource.key, resource.document) for resource in decoded]


def _warn_unread(resource: DecodedResource) -> None:
    """Warn of the fields of a Gateway API or Envoy Gateway object that egd does not read: kubectl would refuse
    a misspelt one (strict field validation); egd stores it, so that producers may send newer API versions. The
    other kinds (Service, EndpointSlice...) have many fields egd has no use for."""
    if resource.key.group not in _CHECKED_GROUPS:
        return
    for path in unread_fields(resource.document, type(resource.model)):
        where = describe_document(resource.document, resource.position)
        click.echo(
            f"warning: {where}: {path} is not read by egd (a misspelling, or a field egd does not support)",
            err=True,
        )


@click.command("apply")
@click.option("-f", "--filename", "filenames", multiple=True, required=True, help="FILE, DIR or - (stdin).")
@click.option("--dry-run", is_flag=True, help="Print the status and xDS changes it would cause; publish nothing.")
@daemon_options
@audit_options
def apply_command(
    filenames: tuple[str, ...], dry_run: bool, nats_url: str | None, data_dir: Path, actor: str | None, reason: str
) -> None:
    """Publish every document as an event; validate them all first, publish none if any is invalid."""
    resources = _load(filenames, warn_unread=True)
    target = resolve_target(nats_url, data_dir)
    audit = make_audit(actor, reason, "apply")
    if dry_run:
        _report_what_if(
            *asyncio.run(what_if_applied(target.nats_url, lambda current: plan_apply(resources, current, audit), audit))
        )
        return
    report_plan(asyncio.run(apply_resources(target.nats_url, resources, audit)))


@click.command("delete")
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True, help="Delete the objects these documents name.")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--ignore-not-found", is_flag=True, help="Treat objects that do not exist as deleted.")
@click.option("--dry-run", is_flag=True, help="Print the status and xDS changes it would cause; publish nothing.")
@daemon_options
@audit_options
def delete_command(
    kind: str | None,
    names: tuple[str, ...],
    filenames: tuple[str, ...],
    namespace: str,
    ignore_not_found: bool,
    dry_run: bool,
    nats_url: str | None,
    data_dir: Path,
    actor: str | None,
    reason: str,
) -> None:
    """Publish deletions: `egd delete -f FILE` or `egd delete KIND NAME... [-n NS]`."""
    if filenames:
        if kind:
            raise click.UsageError("give either -f FILE or KIND NAME, not both")
        keys = [key for key, _ in _load(filenames)]
    else:
        if not kind or not names:
            raise click.UsageError("give -f FILE, or KIND and at least one NAME")
        info = REGISTRY.resolve(kind)
        if info is None:
            raise click.BadParameter(f"unknown kind {kind!r}", param_hint="KIND")
        scope = namespace if info.namespaced else ""
        unique = dict.fromkeys(names)  # a name given twice is deleted once
        keys = [ResourceKey(group=info.group, kind=info.kind, namespace=scope, name=name) for name in unique]
    target = resolve_target(nats_url, data_dir)
    audit = make_audit(actor, reason, "delete")
    if dry_run:
        _report_what_if(
            *asyncio.run(
                what_if_applied(
                    target.nats_url,
                    lambda current: _deletions(keys, current, audit, ignore_not_found=ignore_not_found),
                    audit,
                )
            )
        )
        return
    report_plan(asyncio.run(delete_resources(target.nats_url, keys, audit, ignore_not_found=ignore_not_found)))
