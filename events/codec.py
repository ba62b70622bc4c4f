"""Encoding and decoding events; upcasting of older schema versions happens here."""

from __future__ import annotations

import hashlib

import msgspec

from events.errors import EventDecodeError
from events.schema import SCHEMA_VERSION, Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Decode and validate one event; raises EventDecodeError with the reason and JSON path."""
    try:
        event: Event = _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise EventDecodeError(str(exc)) from exc
    if event.schema_version > SCHEMA_VERSION:
        raise EventDecodeError(
            f"schema_version {event.schema_version} is newer than this egd understands ({SCHEMA_VERSION})"
        )
    return event


def message_id(payload: bytes) -> str:
    """The `Nats-Msg-Id` of an encoded event: a retried publish of the same bytes is stored once."""
    return hashlib.sha256(payload).hexdigest()[:32]


def event_json_schema() -> dict[str, object]:
    """JSON Schema of the event union, for systems that publish events without egd's code."""
    schema: dict[str, object] = msgspec.json.schema(Event)
    return schema
