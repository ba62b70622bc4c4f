"""Encoding and decoding events; upcasting of older schema versions happens here.

An event is decoded straight into the current schema when it already has that shape (the fast path, all
but a few events). Otherwise its JSON is read as plain data, brought up one version at a time by the
upcasters below (`UPCASTERS[v]` turns version v into v + 1), and only then validated.

Schema history:
- 0: a deliberate, test-proven schema change (the draft shape). The resource key was flat (`group`,
  `kind`, `namespace`, `name` at the top level of the event) and the actor was called `user`. The frozen
  corpus under tests/testdata/events/ holds such events and must keep replaying.
- 1: the key as a `key` object, `actor`; `source`, `reason`, `correlation_id` optional.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC
from typing import Any

import msgspec

from events.errors import EventDecodeError
from events.schema import SCHEMA_VERSION, Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)
_raw_decoder = msgspec.json.Decoder(dict[str, Any])

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _upcast_0_to_1(event: dict[str, Any]) -> dict[str, Any]:
    upcast = {k: v for k, v in event.items() if k not in ("group", "kind", "namespace", "name", "user")}
    upcast["key"] = {
        "group": event.get("group", ""),
        "kind": event.get("kind", ""),
        "namespace": event.get("namespace", ""),
        "name": event.get("name", ""),
    }
    if "user" in event:
        upcast["actor"] = event["user"]
    upcast["schema_version"] = 1
    return upcast


UPCASTERS: dict[int, Upcaster] = {0: _upcast_0_to_1}
"""schema_version v -> the function that turns an event of version v into one of version v + 1."""


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Decode and validate one event, upcast to the current schema; raises EventDecodeError with the reason
    and JSON path."""
    try:
        event: Event = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        return _decode_older(data, exc)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(str(exc)) from exc
    if event.schema_version > SCHEMA_VERSION:
        raise EventDecodeError(
            f"schema_version {event.schema_version} is newer than this egd understands ({SCHEMA_VERSION})"
        )
    if event.schema_version < SCHEMA_VERSION:
        return _decode_older(data, None)
    return _in_utc(event)


def _in_utc(event: Event) -> Event:
    """A time written without an offset is UTC (as on egd's command line), so that times always compare."""
    if event.occurred_at.tzinfo is None:
        return msgspec.structs.replace(event, occurred_at=event.occurred_at.replace(tzinfo=UTC))
    return event


def _decode_older(data: bytes, failure: msgspec.ValidationError | None) -> Event:
    """An event that does not have the current shape: upcast it if it is of an older version."""
    try:
        raw = _raw_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(str(exc)) from exc
    version = raw.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version == SCHEMA_VERSION:
        raise EventDecodeError(str(failure) if failure is not None else "schema_version is not an integer")
    if version > SCHEMA_VERSION:
        raise EventDecodeError(f"schema_version {version} is newer than this egd understands ({SCHEMA_VERSION})")
    while version < SCHEMA_VERSION:
        upcaster = UPCASTERS.get(version)
        if upcaster is None:
            raise EventDecodeError(f"no upcaster for schema_version {version}")
        raw = upcaster(raw)
        version = raw["schema_version"]
    try:
        upcast: Event = msgspec.convert(raw, Event)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(f"after upcasting to schema_version {SCHEMA_VERSION}: {exc}") from exc
    return _in_utc(upcast)


def message_id(payload: bytes) -> str:
    """The `Nats-Msg-Id` of an encoded event: a retried publish of the same bytes is stored once."""
    return hashlib.sha256(payload).hexdigest()[:32]


def event_json_schema() -> dict[str, object]:
    """JSON Schema of the event union, for systems that publish events without egd's code."""
    schema: dict[str, object] = msgspec.json.schema(Event)
    return schema
