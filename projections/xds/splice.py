"""Protobuf wire format for splicing: a message made of already-serialised parts (route configurations in
`translate.routes`, discovery responses in `wire`).

A repeated message field is, on the wire, one `tag length bytes` record per element, and a parser
accepts fields in any order. So a RouteConfiguration is its `name` record, then one record per
VirtualHost, then its remaining fields; a VirtualHost is likewise `name`, `domains`, its Route records,
then the rest. Serialised in field-number order, exactly as `SerializeToString(deterministic=True)`
writes them, the spliced bytes equal the bytes of the whole message built at once (tests check this).
"""

from __future__ import annotations

_LENGTH_DELIMITED = 2
_ONE_BYTE = [bytes((value,)) for value in range(0x80)]


def varint(value: int) -> bytes:
    if 0 <= value <= 0x7F:  # most tags and lengths
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def record_head(number: int, size: int) -> bytes:
    """The start of the record of a length-delimited field numbered `number` whose payload, `size` bytes,
    follows it."""
    return varint(number << 3 | _LENGTH_DELIMITED) + varint(size)


def field_record(number: int, payload: bytes) -> bytes:
    """The record of a length-delimited field (a sub-message, string or bytes) numbered `number`."""
    return b"".join((record_head(number, len(payload)), payload))  # one copy of the payload


_ANY_TYPE_URL = 1
_ANY_VALUE = 2


def any_head(type_url: str, size: int) -> bytes:
    """The start of a serialised `google.protobuf.Any` holding a serialised message of `size` bytes, which
    follow it."""
    return field_record(_ANY_TYPE_URL, type_url.encode()) + record_head(_ANY_VALUE, size)


def any_bytes(type_url: str, value: bytes) -> bytes:
    """A serialised `google.protobuf.Any` holding the serialised message `value`."""
    return b"".join((any_head(type_url, len(value)), value))
