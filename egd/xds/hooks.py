"""What the xDS server tells the rest of egd: optional callbacks, one per kind of happening.

Hooks run on the event loop, inline with the stream that triggered them: keep them quick (count a
metric, update a status map). An exception in a hook is logged and does not end the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from projections.xds.delta import Acknowledgement


@dataclass(frozen=True, slots=True)
class StreamInfo:
    stream_id: int
    """Unique within this server process."""
    variant: Literal["delta", "sotw"]
    node_id: str
    node_group: str
    """`node.cluster`: the Gateway as `<namespace>/<name>`."""
    peer: str


@dataclass(frozen=True, slots=True)
class SentInfo:
    type_url: str
    nonce: str
    resources: int
    removed: int
    size: int
    """Bytes of the serialised response."""


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class XdsHooks:
    on_connect: Callable[[StreamInfo], None] = _ignore
    on_disconnect: Callable[[StreamInfo], None] = _ignore
    on_response: Callable[[StreamInfo, SentInfo], None] = _ignore
    on_ack: Callable[[StreamInfo, Acknowledgement], None] = _ignore
    on_nack: Callable[[StreamInfo, Acknowledgement], None] = _ignore
