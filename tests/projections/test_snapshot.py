from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.schema import LogRecord
from projections.snapshot import SnapshotRejectedError, decode_snapshot, encode_snapshot
from projections.state import ResourceState, fold
from tests.projections.test_state import ROUTE, T0, applied, deleted, route

LOG = "EGD_EVENTS@2026-11-26T00:00:00Z"


def make_records(ops: list[tuple[str, int | None]]) -> list[LogRecord]:
    records = []
    for seq, (name, port) in enumerate(ops, start=1):
        key = ROUTE.__replace__(name=name)
        if port is None:
            records.append(deleted(seq, key))
        else:
            records.append(applied(seq, {**route(port), "metadata": {"name": name, "namespace": "default"}}, key))
    return records


def folded(records: list[LogRecord]) -> ResourceState:
    state = ResourceState()
    for record in records:
        fold(state, record)
    return state


def same(a: ResourceState, b: ResourceState) -> bool:
    return (a.last_seq, a.objects, a.quarantine_count, list(a.quarantined)) == (
        b.last_seq,
        b.objects,
        b.quarantine_count,
        list(b.quarantined),
    )


ops = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 3) | st.none()), min_size=1, max_size=25)


@given(ops, st.data())
def test_snapshot_plus_tail_equals_full_replay(operations: list[tuple[str, int | None]], data: st.DataObject) -> None:
    records = make_records(operations)
    cut = data.draw(st.integers(0, len(records)))
    restored = decode_snapshot(encode_snapshot(folded(records[:cut]), LOG), LOG)
    for record in records[cut:]:
        fold(restored, record)
    assert same(restored, folded(records))


def test_quarantine_survives_a_snapshot() -> None:
    state = folded([LogRecord(seq=1, subject="egd.v1.res.HTTPRoute.default.web", stored_at=T0, data=b"{")])
    restored = decode_snapshot(encode_snapshot(state, LOG), LOG)
    assert restored.quarantine_count == 1 and restored.quarantined[0].seq == 1


def test_corrupt_or_foreign_snapshots_are_rejected() -> None:
    good = encode_snapshot(folded(make_records([("a", 1), ("b", 2)])), LOG)
    with pytest.raises(SnapshotRejectedError, match=r"another|not"):
        decode_snapshot(good, "EGD_EVENTS@another-log")
    with pytest.raises(SnapshotRejectedError, match="decode"):
        decode_snapshot(good[: len(good) // 2], LOG)
    envelope = msgspec.msgpack.decode(good)
    tampered = dict(envelope, body=envelope["body"][:-1] + bytes([envelope["body"][-1] ^ 1]))
    with pytest.raises(SnapshotRejectedError, match="checksum"):
        decode_snapshot(msgspec.msgpack.encode(tampered), LOG)
    with pytest.raises(SnapshotRejectedError, match="format"):
        decode_snapshot(msgspec.msgpack.encode(dict(envelope, format=99)), LOG)
