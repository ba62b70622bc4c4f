"""Delivery records and what they say about an Envoy at a moment. Pure: no I/O here.

One record per thing the xDS server saw: a stream opened or closed, a response sent, its ACK or NACK.
An ACK or NACK carries the names and versions of the response it answers (and the names it removed) and
the log sequence that response reflects, so the records alone answer "which config was this Envoy
running at 14:02, and did it accept it".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import msgspec

from events.keys import encode_token

DELIVERY_STREAM = "EGD_DELIVERIES"
DELIVERY_SUBJECT_PREFIX = "egd.v1.delivery"

DeliveryKind = Literal["connected", "disconnected", "sent", "ack", "nack"]


class Delivery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    at: datetime
    kind: DeliveryKind
    node_id: str
    gateway: str  # the Envoy's node.cluster: <namespace>/<name>
    stream_id: int
    variant: Literal["delta", "sotw"]
    replica: str  # which egd served the stream (host:pid)
    type_url: str = ""
    nonce: str = ""
    seq: int = 0  # the log sequence the response reflects (0: unknown)
    resources: tuple[tuple[str, str], ...] = ()  # (name, version) of the response answered
    removed: tuple[str, ...] = ()
    count: int = 0  # resources in a sent response
    size: int = 0  # bytes of a sent response
    error_code: int = 0
    error_message: str = ""
    continued: bool = False
    """This record carries more names of the previous one (same nonce): an answer too big for one message is
    recorded in parts (`delivery_payloads`)."""


_encode = msgspec.json.Encoder().encode


def delivery_payloads(delivery: Delivery, limit: int) -> list[bytes]:
    """`delivery` encoded, in parts of at most `limit` bytes each where its names allow: an ACK of a whole
    configuration (every VirtualHost of a large Gateway) can exceed what NATS takes in one message. Every part
    but the first is `continued`."""
    payload = _encode(delivery)
    names = len(delivery.resources) + len(delivery.removed)
    if len(payload) <= limit or names < 2:
        return [payload]
    half = names // 2
    resources, removed = delivery.resources, delivery.removed
    cut = max(0, half - len(resources))
    first = msgspec.structs.replace(delivery, resources=resources[:half], removed=removed[:cut])
    rest = msgspec.structs.replace(delivery, resources=resources[half:], removed=removed[cut:], continued=True)
    return delivery_payloads(first, limit) + delivery_payloads(rest, limit)


def delivery_subject(gateway: str, node_id: str) -> str:
    return f"{DELIVERY_SUBJECT_PREFIX}.{encode_token(gateway or '-')}.{encode_token(node_id or '-')}"


def delivery_filter(gateway: str | None = None, node_id: str | None = None) -> str:
    gateway_token = encode_token(gateway) if gateway else "*"
    node_token = encode_token(node_id) if node_id else "*"
    return f"{DELIVERY_SUBJECT_PREFIX}.{gateway_token}.{node_token}"


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    seq: int
    at: datetime


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    version: str  # "" for a removal that was refused
    seq: int
    at: datetime
    error_code: int
    error_message: str


class RunningConfig(msgspec.Struct, kw_only=True):
    """One Envoy's configuration at a moment, as its ACKs and NACKs say: per type URL, name -> what it
    accepted, and name -> the change it refused (until a later ACK of that name settles it)."""

    node_id: str
    gateway: str
    accepted: dict[str, dict[str, Accepted]]
    rejected: dict[str, dict[str, Rejected]]
    connected: bool


def running_config(deliveries: Iterable[Delivery], node_id: str) -> RunningConfig:
    """Fold one node's delivery records (oldest first) into what it was running after the last of them.

    Delta ACKs add and remove names; a SotW ACK replaces its type's set. Envoy keeps its configuration
    across reconnects, so a new stream does not reset it (an Envoy restarted while a resource was removed
    is the one case where this over-reports)."""
    running = RunningConfig(node_id=node_id, gateway="", accepted={}, rejected={}, connected=False)
    for delivery in deliveries:
        if delivery.node_id != node_id:
            continue
        running.gateway = delivery.gateway
        if delivery.kind in ("connected", "disconnected"):
            running.connected = delivery.kind == "connected"
        elif delivery.kind == "ack":
            held = running.accepted.setdefault(delivery.type_url, {})
            refused = running.rejected.setdefault(delivery.type_url, {})
            if delivery.variant == "sotw" and not delivery.continued:
                held.clear()
                refused.clear()
            for name, version in delivery.resources:
                held[name] = Accepted(version=version, seq=delivery.seq, at=delivery.at)
                refused.pop(name, None)
            for name in delivery.removed:
                held.pop(name, None)
                refused.pop(name, None)
        elif delivery.kind == "nack":
            refused = running.rejected.setdefault(delivery.type_url, {})
            changes = [*delivery.resources, *((name, "") for name in delivery.removed)]
            for name, version in changes:
                refused[name] = Rejected(
                    version=version,
                    seq=delivery.seq,
                    at=delivery.at,
                    error_code=delivery.error_code,
                    error_message=delivery.error_message,
                )
    running.accepted = {t: held for t, held in running.accepted.items() if held}
    running.rejected = {t: refused for t, refused in running.rejected.items() if refused}
    return running
