"""The xDS server's hooks as metrics."""

from __future__ import annotations

from egd.metrics import Metrics, short_type
from egd.xds.hooks import SentInfo, StreamInfo, XdsHooks
from projections.xds.delta import Acknowledgement


def metered_hooks(metrics: Metrics) -> XdsHooks:
    def on_connect(stream: StreamInfo) -> None:
        metrics.xds_streams.labels(stream.variant).inc()

    def on_disconnect(stream: StreamInfo) -> None:
        metrics.xds_streams.labels(stream.variant).dec()

    def on_response(stream: StreamInfo, sent: SentInfo) -> None:
        metrics.xds_responses.labels(stream.variant, short_type(sent.type_url)).inc()
        metrics.xds_response_bytes.labels(stream.variant, short_type(sent.type_url)).inc(sent.size)
        metrics.xds_resources_sent.labels(stream.variant, short_type(sent.type_url)).inc(sent.resources)
        metrics.xds_removals_sent.labels(stream.variant, short_type(sent.type_url)).inc(sent.removed)

    def on_ack(_: StreamInfo, ack: Acknowledgement) -> None:
        if ack.response is not None:
            metrics.xds_acks.labels(short_type(ack.type_url)).inc()

    def on_nack(_: StreamInfo, nack: Acknowledgement) -> None:
        metrics.xds_nacks.labels(short_type(nack.type_url)).inc()

    return XdsHooks(
        on_connect=on_connect, on_disconnect=on_disconnect, on_response=on_response, on_ack=on_ack, on_nack=on_nack
    )
