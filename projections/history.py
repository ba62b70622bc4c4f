"""The audit trail: the log folded into one entry per change, filtered the way auditors ask.

Every record goes through the incremental pipeline, as the daemon's follower does once live, so each
entry names the Gateways whose IR the change touched (updated or removed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from events.schema import LogRecord
from projections.pipeline import Pipeline


class HistoryFilter(msgspec.Struct, frozen=True, kw_only=True):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    actor: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    gateway: str | None = None  # only changes that touched this Gateway (`<namespace>/<name>`)


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: datetime
    actor: str
    source: str
    reason: str
    correlation_id: str
    change: str  # created | configured | deleted | quarantined
    resource: str
    generation: int | None
    gateways: tuple[str, ...] = ()


def history(records: Iterable[LogRecord], selection: HistoryFilter) -> list[HistoryEntry]:
    """Every change `selection` asks for; the whole log is folded so that created/configured are right.
    Records before `selection.since` are folded without translation, and the state is translated once when
    the first record at or after it comes (as the daemon does when it catches up)."""
    pipeline = Pipeline()
    entries = []
    since = selection.since
    translating = since is None
    for record in records:
        if since is not None and not translating and record.stored_at >= since:
            pipeline.translate_all()
            translating = True
        step = pipeline.fold(record, translate=translating)
        if not translating:
            continue
        change = step.state
        if change is None:
            bad = pipeline.state.quarantined[-1]
            if selection == HistoryFilter():
                entries.append(
                    HistoryEntry(
                        seq=record.seq,
                        at=record.stored_at,
                        actor="",
                        source="",
                        reason=bad.error,
                        correlation_id="",
                        change="quarantined",
                        resource=record.subject,
                        generation=None,
                    )
                )
            continue
        audit, key = change.audit, change.key
        if (
            (selection.kind is not None and key.kind != selection.kind)
            or (selection.namespace is not None and key.namespace != selection.namespace)
            or (selection.name is not None and key.name != selection.name)
            or (selection.actor is not None and audit.actor != selection.actor)
            or (selection.source is not None and not _same_source(audit.source, selection.source))
            or (selection.since is not None and audit.at < selection.since)
            or (selection.until is not None and audit.at > selection.until)
        ):
            continue
        gateways = tuple(sorted({*step.translation.gateways, *step.translation.gateways_removed}))
        if selection.gateway is not None and selection.gateway not in gateways:
            continue
        entries.append(
            HistoryEntry(
                seq=audit.seq,
                at=audit.at,
                actor=audit.actor,
                source=audit.source,
                reason=audit.reason,
                correlation_id=audit.correlation_id,
                change=change.verb,
                resource=str(key),
                generation=change.after.generation if change.after else None,
                gateways=gateways,
            )
        )
    return entries


def _same_source(source: str, wanted: str) -> bool:
    """`egd apply` matches `egd apply@host`: egd's own commands record the host after an `@`."""
    return source == wanted or source.startswith(wanted + "@")
