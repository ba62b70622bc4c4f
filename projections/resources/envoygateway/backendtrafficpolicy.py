"""BackendTrafficPolicy: how Envoy treats traffic from a Gateway or route to its backends."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.envoygateway.cluster import ClusterSettings
from projections.resources.envoygateway.httproutefilter import CustomResponseBody
from projections.resources.envoygateway.ratelimit import RateLimitSpec
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import LocalPolicyTargetReferenceWithSectionName, TargetSelector, check_policy_targets
from projections.resources.quantities import Duration, Percentage, PositiveUInt32, Quantity, UInt32

ChunkSize = Annotated[int, msgspec.Meta(ge=4096, le=65536)]


class FaultInjectionDelay(K8sModel, frozen=True, kw_only=True):
    fixed_delay: Duration
    percentage: Percentage | None = None  # unset: every request


class FaultInjectionAbort(K8sModel, frozen=True, kw_only=True):
    http_status: Annotated[int, msgspec.Meta(ge=200, le=600)] | None = None
    grpc_status: UInt32 | None = None
    percentage: Percentage | None = None

    def __post_init__(self) -> None:
        if (self.http_status is None) == (self.grpc_status is None):
            raise ValueError("an abort needs exactly one of httpStatus and grpcStatus")
        if self.http_status is not None and not 200 <= self.http_status <= 600:
            raise ValueError(f"httpStatus must be between 200 and 600 (got {self.http_status})")


class FaultInjection(K8sModel, frozen=True, kw_only=True):
    delay: FaultInjectionDelay | None = None
    abort: FaultInjectionAbort | None = None

    def __post_init__(self) -> None:
        if self.delay is None and self.abort is None:
            raise ValueError("fault injection needs delay or abort")


class ProtocolUpgradeConfig(K8sModel, frozen=True, kw_only=True):
    type: Annotated[str, msgspec.Meta(min_length=1)]  # websocket, CONNECT, spdy/3.1... (case-insensitive)
    connect: dict[str, object] | None = None


# --- compression ---------------------------------------------------------------------------------------------


class GzipCompressor(K8sModel, frozen=True, kw_only=True):
    compression_level: Annotated[int, msgspec.Meta(ge=1, le=9)] | None = None
    compression_strategy: Literal["Default", "Filtered", "HuffmanOnly", "RLE", "Fixed"] | None = None
    memory_level: Annotated[int, msgspec.Meta(ge=1, le=9)] | None = None
    window_bits: Annotated[int, msgspec.Meta(ge=9, le=15)] | None = None
    chunk_size: ChunkSize | None = None


class BrotliCompressor(K8sModel, frozen=True, kw_only=True):
    quality: Annotated[int, msgspec.Meta(ge=0, le=11)] | None = None
    encoder_mode: Literal["Default", "Generic", "Text", "Font"] | None = None
    window_bits: Annotated[int, msgspec.Meta(ge=10, le=24)] | None = None
    input_block_bits: Annotated[int, msgspec.Meta(ge=16, le=24)] | None = None
    chunk_size: ChunkSize | None = None
    disable_literal_context_modeling: bool | None = None


class ZstdCompressor(K8sModel, frozen=True, kw_only=True):
    compression_level: Annotated[int, msgspec.Meta(ge=1, le=22)] | None = None
    enable_checksum: bool | None = None
    strategy: (
        Literal["Default", "Fast", "DFast", "Greedy", "Lazy", "Lazy2", "BTLazy2", "BTOpt", "BTUltra", "BTUltra2"] | None
    ) = None
    chunk_size: ChunkSize | None = None


class Compression(K8sModel, frozen=True, kw_only=True):
    type: Literal["Gzip", "Brotli", "Zstd"]
    gzip: GzipCompressor | None = None
    brotli: BrotliCompressor | None = None
    zstd: ZstdCompressor | None = None
    min_content_length: Quantity | None = None  # Envoy's default: 30 bytes

    def __post_init__(self) -> None:
        for name, settings in (("Gzip", self.gzip), ("Brotli", self.brotli), ("Zstd", self.zstd)):
            if settings is not None and self.type != name:
                raise ValueError(f"the {name.lower()} configuration is only allowed when the type is {name}")


# --- response override ---------------------------------------------------------------------------------------

HTTPStatus = Annotated[int, msgspec.Meta(ge=100, le=599)]


class StatusCodeRange(K8sModel, frozen=True, kw_only=True):
    start: HTTPStatus
    end: HTTPStatus

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"a status code range must not end ({self.end}) before it starts ({self.start})")


class StatusCodeMatch(K8sModel, frozen=True, kw_only=True):
    type: Literal["Value", "Range"] = "Value"
    value: HTTPStatus | None = None
    range: StatusCodeRange | None = None

    def __post_init__(self) -> None:
        if self.type == "Value" and self.value is None:
            raise ValueError("a status code match of type Value needs value")
        if self.type == "Range" and self.range is None:
            raise ValueError("a status code match of type Range needs range")


class CustomResponseMatch(K8sModel, frozen=True, kw_only=True):
    status_codes: Annotated[tuple[StatusCodeMatch, ...], msgspec.Meta(min_length=1)]
    source: str | None = None  # Local, Backend, Any: egd honours Any (the default) only


class CustomResponse(K8sModel, frozen=True, kw_only=True):
    content_type: str | None = None
    body: CustomResponseBody | None = None
    status_code: HTTPStatus | None = None
    header: dict[str, object] | None = None  # read by nothing yet


class ResponseOverride(K8sModel, frozen=True, kw_only=True):
    match: CustomResponseMatch
    response: CustomResponse | None = None
    redirect: dict[str, object] | None = None  # read by nothing yet

    def __post_init__(self) -> None:
        if (self.response is None) == (self.redirect is None):
            raise ValueError("a response override needs exactly one of response and redirect")


class RequestBuffer(K8sModel, frozen=True, kw_only=True):
    limit: Quantity


# --- bandwidth limit and admission control ---------------------------------------------------------------


class BandwidthLimitValue(K8sModel, frozen=True, kw_only=True):
    value: Quantity  # bytes per `unit`
    unit: Literal["Second", "Minute", "Hour"]


class BandwidthLimitRequestConfig(K8sModel, frozen=True, kw_only=True):
    limit: BandwidthLimitValue


class BandwidthLimitResponseTrailers(K8sModel, frozen=True, kw_only=True):
    prefix: str | None = None


class BandwidthLimitResponseConfig(K8sModel, frozen=True, kw_only=True):
    limit: BandwidthLimitValue
    response_trailers: BandwidthLimitResponseTrailers | None = None


class BandwidthLimitSpec(K8sModel, frozen=True, kw_only=True):
    request: BandwidthLimitRequestConfig | None = None
    response: BandwidthLimitResponseConfig | None = None

    def __post_init__(self) -> None:
        if self.request is None and self.response is None:
            raise ValueError("at least one of request or response must be specified")


GRPCSuccessCode = Literal[
    "Ok",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
]


class HTTPSuccessCriteria(K8sModel, frozen=True, kw_only=True):
    status_codes: tuple[HTTPStatus, ...] = ()


class GRPCSuccessCriteria(K8sModel, frozen=True, kw_only=True):
    status_codes: tuple[GRPCSuccessCode, ...] = ()


class AdmissionControlSuccessCriteria(K8sModel, frozen=True, kw_only=True):
    http: HTTPSuccessCriteria | None = None
    grpc: GRPCSuccessCriteria | None = None


class AdmissionControl(K8sModel, frozen=True, kw_only=True):
    """Envoy's admission control: requests rejected with a probability that grows as the backend's success rate
    over `samplingWindow` falls below `minSuccessRate`. Unset fields are Envoy's defaults."""

    sampling_window: Duration | None = None  # Envoy: 30s
    min_success_rate: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None  # percent; Envoy: 95
    rejection_aggression: PositiveUInt32 | None = None  # Envoy: 1 (linear)
    min_request_rate: UInt32 | None = None  # requests per second; Envoy: 0
    max_rejection_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None  # Envoy: 80
    success_criteria: AdmissionControlSuccessCriteria | None = None


class BackendTrafficPolicySpec(ClusterSettings, frozen=True, kw_only=True):
    """The targeting fields are declared here rather than inherited: the spec also inlines ClusterSettings,
    and a msgspec Struct has one base with fields."""

    target_ref: LocalPolicyTargetReferenceWithSectionName | None = None
    target_refs: tuple[LocalPolicyTargetReferenceWithSectionName, ...] = ()
    target_selectors: tuple[TargetSelector, ...] = ()
    merge_type: Literal["StrategicMerge", "JSONMerge"] | None = None
    rate_limit: RateLimitSpec | None = None
    fault_injection: FaultInjection | None = None
    use_client_protocol: bool | None = None
    routing_type: Literal["Service", "Endpoint"] | None = None
    http_upgrade: tuple[ProtocolUpgradeConfig, ...] = ()
    compression: tuple[Compression, ...] = ()  # deprecated by Envoy Gateway in favour of `compressor`
    compressor: tuple[Compression, ...] = ()
    response_override: tuple[ResponseOverride, ...] = ()
    request_buffer: RequestBuffer | None = None
    bandwidth_limit: BandwidthLimitSpec | None = None
    admission_control: AdmissionControl | None = None
    # Read by nothing yet; kept loosely typed (the stored document keeps it whole in any case).
    telemetry: dict[str, object] | None = None

    def __post_init__(self) -> None:
        check_policy_targets(self)


class BackendTrafficPolicy(K8sObject, frozen=True, kw_only=True):
    spec: BackendTrafficPolicySpec
