"""Events survive encode/decode unchanged, byte for byte, whatever they hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.codec import decode_event, encode_event, event_json_schema, message_id
from events.errors import EventDecodeError
from events.keys import ResourceKey
from events.schema import SCHEMA_VERSION, Event, ResourceApplied, ResourceDeleted

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "event.schema.json"

texts = st.text(max_size=20)
names = st.text(min_size=1, max_size=30)
# JSON has no NaN nor infinity (msgspec writes them as null): documents must not carry them.
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite_floats | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=offsets)
keys = st.builds(ResourceKey, group=texts, kind=names, namespace=texts, name=names)


def _change_fields() -> dict[str, Any]:
    return {
        "key": keys,
        "actor": texts,
        "source": texts,
        "reason": texts,
        "correlation_id": texts,
        "occurred_at": moments,
    }


events = st.builds(
    ResourceApplied, **_change_fields(), object=st.dictionaries(texts, json_values, max_size=5)
) | st.builds(ResourceDeleted, **_change_fields())


@given(events)
def test_decode_undoes_encode(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


def test_a_time_without_an_offset_is_utc() -> None:
    """RFC 3339 wants an offset; a producer that leaves it out means UTC, as egd's command line does."""
    key = ResourceKey(group="", kind="ConfigMap", namespace="a", name="b")
    event = ResourceDeleted(key=key, actor="x", occurred_at=datetime(2026, 11, 27, 10, 0))
    assert decode_event(encode_event(event)).occurred_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@given(events)
def test_encoding_is_stable_so_a_retry_has_the_same_message_id(event: Event) -> None:
    payload = encode_event(event)

    again = encode_event(decode_event(payload))

    assert again == payload
    assert message_id(again) == message_id(payload)


@given(events)
def test_encoded_events_are_plain_json_with_a_type_tag(event: Event) -> None:
    document = json.loads(encode_event(event))

    assert document["type"] == type(event).__name__
    assert document["schema_version"] == SCHEMA_VERSION


def test_an_event_from_a_newer_schema_is_refused() -> None:
    event = ResourceDeleted(
        schema_version=SCHEMA_VERSION + 1,
        key=ResourceKey(group="", kind="ConfigMap", namespace="default", name="a"),
        actor="someone",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
    )

    with pytest.raises(EventDecodeError, match="newer"):
        decode_event(encode_event(event))


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b'{"type":"ResourceApplied","key":{"group":"","kind":"K","namespace":"","name":"n"},"actor":"a"}', "occurred"),
        (b'{"type":"Unknown"}', "type"),
        (b'{"type":"ResourceDeleted","key":{"kind":"K"},"actor":"a","occurred_at":"2025-01-01T00:00:00Z"}', r"\$\.key"),
    ],
)
def test_invalid_events_are_refused_with_the_reason(payload: bytes, path: str) -> None:
    with pytest.raises(EventDecodeError, match=path):
        decode_event(payload)


def test_the_committed_json_schema_is_current() -> None:
    """docs/event.schema.json is generated: run `scripts/generate-event-schema` after changing the event types."""
    committed = json.loads(SCHEMA_FILE.read_text())

    assert committed == event_json_schema()
