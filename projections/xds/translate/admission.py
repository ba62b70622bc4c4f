"""BackendTrafficPolicy `admissionControl` in Envoy: the admission control filter as an upstream HTTP filter of
the route's clusters, as Envoy Gateway now configures it (`internal/xds/translator/admission_control.go`):
Envoy's filter has no per-route configuration, and on a cluster it tracks the success rate of that cluster's
backends only. The route reaches its backends through clusters of its own (a cluster variant)."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.admission_control.v3 import admission_control_pb2
from envoy.extensions.filters.http.upstream_codec.v3 import upstream_codec_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.type.v3 import range_pb2
from google.protobuf import duration_pb2

from projections import ir
from projections.xds.translate.packing import packed

_ADMISSION_CONTROL = "envoy.filters.http.admission_control"
_UPSTREAM_CODEC = "envoy.filters.http.upstream_codec"  # the last upstream filter: it sends the request


def _admission_control(settings: ir.AdmissionControl) -> Any:
    config = admission_control_pb2.AdmissionControl(enabled=base_pb2.RuntimeFeatureFlag())
    config.enabled.default_value.value = True
    criteria = config.success_criteria  # Envoy requires it; empty: HTTP 2xx and gRPC OK succeed
    if settings.http_success_statuses:
        criteria.http_criteria.http_success_status.extend(
            range_pb2.Int32Range(start=status, end=status + 1) for status in settings.http_success_statuses
        )
    if settings.grpc_success_statuses:
        criteria.grpc_criteria.grpc_success_status.extend(settings.grpc_success_statuses)
    criteria.SetInParent()
    if settings.sampling_window_ms is not None:
        ms = settings.sampling_window_ms
        config.sampling_window.CopyFrom(duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000))
    if settings.min_success_rate is not None:
        config.sr_threshold.default_value.value = settings.min_success_rate
    if settings.rejection_aggression is not None:
        config.aggression.default_value = settings.rejection_aggression
    if settings.min_request_rate is not None:
        config.rps_threshold.default_value = settings.min_request_rate
    if settings.max_rejection_percent is not None:
        config.max_rejection_probability.default_value.value = settings.max_rejection_percent
    return config


def upstream_http_filters(settings: ir.AdmissionControl) -> list[Any]:
    """A cluster's upstream HTTP filters (`HttpProtocolOptions.http_filters`) for admission control."""
    return [
        hcm.HttpFilter(name=_ADMISSION_CONTROL, typed_config=packed(_admission_control(settings))),
        hcm.HttpFilter(name=_UPSTREAM_CODEC, typed_config=packed(upstream_codec_pb2.UpstreamCodec())),
    ]
