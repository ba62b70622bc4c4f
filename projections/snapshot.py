"""Snapshots of the state projection: the fold at sequence S, so that a restart replays only the tail.

Format: a msgpack header-and-body struct, versioned, with a sha256 of the body; the body is msgpack
compressed with zlib (level 1: documents compress well, and a restart fetches fewer bytes). A snapshot that
does not decode, fails its checksum, has another format version, or was taken of another log (the stream's
identity differs) is rejected with SnapshotRejectedError, never trusted.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque

import msgspec

from projections.errors import ProjectionError
from projections.state import QUARANTINE_KEPT, QuarantinedRecord, ResourceState, StoredObject

SNAPSHOT_FORMAT = 2


class SnapshotRejectedError(ProjectionError):
    pass


class _Body(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    last_seq: int
    objects: list[StoredObject]
    quarantine_count: int
    quarantined: list[QuarantinedRecord]


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    log_identity: str  # which log the fold read (the stream's creation time and name)
    last_seq: int
    sha256: str
    body: bytes


_body_encoder = msgspec.msgpack.Encoder()
_body_decoder = msgspec.msgpack.Decoder(_Body)
_envelope_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(_Envelope)


def encode_snapshot(state: ResourceState, log_identity: str) -> bytes:
    body = zlib.compress(
        _body_encoder.encode(
            _Body(
                last_seq=state.last_seq,
                objects=list(state.objects.values()),
                quarantine_count=state.quarantine_count,
                quarantined=list(state.quarantined),
            )
        ),
        level=1,
    )
    envelope = _Envelope(
        format=SNAPSHOT_FORMAT,
        log_identity=log_identity,
        last_seq=state.last_seq,
        sha256=hashlib.sha256(body).hexdigest(),
        body=body,
    )
    return _envelope_encoder.encode(envelope)


def decode_snapshot(data: bytes, log_identity: str) -> ResourceState:
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotRejectedError(f"snapshot does not decode: {exc}") from exc
    if envelope.format != SNAPSHOT_FORMAT:
        raise SnapshotRejectedError(f"snapshot format {envelope.format}, this egd reads {SNAPSHOT_FORMAT}")
    if envelope.log_identity != log_identity:
        raise SnapshotRejectedError(f"snapshot is of log {envelope.log_identity!r}, not {log_identity!r}")
    if hashlib.sha256(envelope.body).hexdigest() != envelope.sha256:
        raise SnapshotRejectedError("snapshot checksum does not match its body")
    try:
        body = _body_decoder.decode(zlib.decompress(envelope.body))
    except (msgspec.DecodeError, zlib.error) as exc:
        raise SnapshotRejectedError(f"snapshot body does not decode: {exc}") from exc
    state = ResourceState()
    state.last_seq = body.last_seq
    state.objects = {stored.key: stored for stored in body.objects}
    state.quarantine_count = body.quarantine_count
    state.quarantined = deque(body.quarantined, maxlen=QUARANTINE_KEPT)
    return state
