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


def compose_hooks(*hooks: XdsHooks) -> XdsHooks:
    """One `XdsHooks` that calls each of `hooks` in turn (e.g. metrics, then the delivery audit)."""

    def each(name: str) -> Callable[..., None]:
        callbacks = [getattr(h, name) for h in hooks if getattr(h, name) is not _ignore]

        def call(*args: object) -> None:
            for callback in callbacks:
                callback(*args)

        return call

    return XdsHooks(
        on_connect=each("on_connect"),
        on_disconnect=each("on_disconnect"),
        on_response=each("on_response"),
        on_ack=each("on_ack"),
        on_nack=each("on_nack"),
    )
