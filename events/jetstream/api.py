"""JetStream API replies and headers, as egd reads and writes them."""

from __future__ import annotations

import base64

import msgspec

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"

WRONG_LAST_SEQUENCE = frozenset({10071, 10164})
BATCH_HAS_DUPLICATE = 10201
NO_MESSAGE_FOUND = 10037


class ApiError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, frozen=True):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    count: int = 0
    error: ApiError | None = None


class StoredMessage(msgspec.Struct, frozen=True):
    seq: int
    hdrs: str = ""  # base64 of the NATS header block


class MsgGetReply(msgspec.Struct, frozen=True):
    message: StoredMessage | None = None
    error: ApiError | None = None


class ConsumerCreated(msgspec.Struct, frozen=True):
    num_pending: int = 0
    error: ApiError | None = None


class StreamState(msgspec.Struct, frozen=True):
    last_seq: int = 0


class StreamInfo(msgspec.Struct, frozen=True):
    state: StreamState | None = None
    error: ApiError | None = None


decode_stream_info = msgspec.json.Decoder(StreamInfo).decode
decode_ack = msgspec.json.Decoder(PubAck).decode
decode_msg_get = msgspec.json.Decoder(MsgGetReply).decode
decode_consumer_created = msgspec.json.Decoder(ConsumerCreated).decode
encode_json = msgspec.json.Encoder().encode


def header_value(encoded_headers: str, name: str) -> str | None:
    if not encoded_headers:
        return None
    prefix = name.lower().encode() + b":"
    for line in base64.b64decode(encoded_headers).split(b"\r\n")[1:]:
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip().decode()
    return None
