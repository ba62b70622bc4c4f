"""Point-in-time replay: the log folded up to a point, and what egd served there.

A point is a stream sequence (every record up to and including it) or a time (every record JetStream
stored at or before it). The state at a point is the fold of those records; the IR and the xDS resources
are pure functions of that state, so translating it from scratch gives exactly what the daemon served
right after folding the point (the daemon itself translates from scratch when it catches up, then one
event at a time, and incremental translation equals translation from scratch).

One thing is not a function of the state alone: a status condition's `lastTransitionTime`. The daemon
stamps it with the time of the event that changed the condition while it was following live, and with the
object's last change when it translated from scratch (after a restart). Replay translates from scratch, so
it shows what a daemon restarted at that point would show: the time of each object's last change up to
the point. `comparison.compare_statuses` ignores `lastTransitionTime` for that reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from events.codec import encode_event
from events.keys import subject_for
from events.schema import Event, LogRecord
from projections.comparison import Comparison, View, compare
from projections.pipeline import Pipeline
from projections.xds.resources import ResourceSet
from projections.xds.translate import build_resource_set
from projections.xds.translate.render import resource_documents


class Point(msgspec.Struct, frozen=True, kw_only=True):
    """A place in the log: after sequence `seq`, or after everything stored at or before `time`."""

    seq: int | None = None
    time: datetime | None = None

    def __post_init__(self) -> None:
        if (self.seq is None) == (self.time is None):
            raise ValueError("a point is a sequence or a time, exactly one of them")

    def includes(self, record: LogRecord) -> bool:
        if self.seq is not None:
            return record.seq <= self.seq
        assert self.time is not None
        return record.stored_at <= self.time

    def __str__(self) -> str:
        if self.seq is not None:
            return f"sequence {self.seq}"
        assert self.time is not None
        return self.time.isoformat().replace("+00:00", "Z")


def fold_until(records: Iterable[LogRecord], point: Point, pipeline: Pipeline | None = None) -> Pipeline:
    """A pipeline with every record up to `point` folded and the state translated from scratch. The
    records must come in log order; reading stops at the first one past the point."""
    pipeline = pipeline or Pipeline()
    for record in records:
        if not point.includes(record):
            break
        pipeline.fold(record, translate=False)
    pipeline.translate_all()
    return pipeline


def state_documents(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every object as `egd get -o yaml` shows it (server-side metadata and Gateway API status)."""
    return [pipeline.document(stored) for _, stored in sorted(pipeline.state.objects.items())]


def ir_documents(pipeline: Pipeline, gateway: str | None = None) -> list[Any]:
    """The IR of every Gateway (or of `gateway`), sorted by name, as plain data."""
    gateways = pipeline.translator.gateways
    return [msgspec.to_builtins(gateways[name]) for name in sorted(gateways) if gateway is None or name == gateway]


def xds_sets(pipeline: Pipeline, gateway: str | None = None) -> dict[str, ResourceSet]:
    """Every Gateway's (or `gateway`'s) Envoy resources, built from scratch from its IR."""
    gateways = pipeline.translator.gateways
    return {name: build_resource_set(gateways[name]) for name in sorted(gateways) if gateway is None or name == gateway}


def xds_documents(sets: dict[str, ResourceSet]) -> list[dict[str, Any]]:
    """What the daemon's admin API shows at /api/v1/xds: per Gateway, its resources with versions."""
    return [{"gateway": name, "resources": resource_documents(resources)} for name, resources in sorted(sets.items())]


def view_of(pipeline: Pipeline) -> View:
    """The objects, statuses, IR and xDS of a translated pipeline, for `comparison.compare`."""
    return View(
        objects={key: stored.object for key, stored in pipeline.state.objects.items()},
        statuses={key: msgspec.to_builtins(status) for key, status in pipeline.translator.statuses.items()},
        ir={name: msgspec.to_builtins(gateway) for name, gateway in pipeline.translator.gateways.items()},
        xds=xds_sets(pipeline),
    )


def what_if(pipeline: Pipeline, events: Sequence[Event], at: datetime) -> Comparison:
    """What `events` would change if the log stored them now (at `at`): they are folded into `pipeline`
    (already translated) one at a time, as the live daemon would. `pipeline` is left with them folded."""
    before = view_of(pipeline)
    touched: set[str] = set()
    for event in events:
        record = LogRecord(
            seq=pipeline.state.last_seq + 1,
            subject=subject_for(event.key),
            stored_at=at,
            data=encode_event(event),
        )
        step = pipeline.fold(record)
        touched.update(step.translation.gateways, step.translation.gateways_removed)
    gateways = pipeline.translator.gateways
    xds = {name: resources for name, resources in before.xds.items() if name not in touched}
    xds.update({name: build_resource_set(gateways[name]) for name in touched if name in gateways})
    after = View(
        objects={key: stored.object for key, stored in pipeline.state.objects.items()},
        statuses={key: msgspec.to_builtins(status) for key, status in pipeline.translator.statuses.items()},
        ir={name: msgspec.to_builtins(gateway) for name, gateway in gateways.items()},
        xds=xds,
    )
    return compare(before, after)
