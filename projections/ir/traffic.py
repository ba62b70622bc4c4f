"""What a BackendTrafficPolicy asks of the HTTP filters on a route's way: response compression, responses
replaced by status, request buffering; and how Envoy resolves a hostname backend (DNS)."""

from __future__ import annotations

from projections.ir.base import IRStruct


class Compression(IRStruct, frozen=True, kw_only=True):
    """One compressor a route offers its clients (Envoy picks by the client's Accept-Encoding). Unset settings
    are the compressor library's defaults; `min_content_length` None is Envoy's (30 bytes)."""

    type: str  # Gzip, Brotli, Zstd
    min_content_length: int | None = None
    level: int | None = None  # Gzip compressionLevel, Brotli quality, Zstd compressionLevel
    strategy: str | None = None  # Gzip compressionStrategy, Brotli encoderMode, Zstd strategy
    memory_level: int | None = None  # Gzip
    window_bits: int | None = None  # Gzip, Brotli
    input_block_bits: int | None = None  # Brotli
    chunk_size: int | None = None
    disable_literal_context_modeling: bool = False  # Brotli
    enable_checksum: bool = False  # Zstd

    @property
    def filter_key(self) -> str:
        """The route's `filters` entry: one compressor filter per type and minimum length (a filter-level
        setting that Envoy cannot override per route)."""
        base = f"compressor.{self.type.lower()}"
        return base if self.min_content_length is None else f"{base}.min{self.min_content_length}"


class StatusRange(IRStruct, frozen=True, kw_only=True):
    start: int
    end: int  # inclusive


class ResponseOverrideRule(IRStruct, frozen=True, kw_only=True):
    """Responses whose status is one of `statuses` (or in one of `ranges`) are replaced by this one."""

    statuses: tuple[int, ...] = ()
    ranges: tuple[StatusRange, ...] = ()
    status: int | None = None  # None: the original status
    body: str | None = None
    content_type: str | None = None


class ResponseOverride(IRStruct, frozen=True, kw_only=True):
    rules: tuple[ResponseOverrideRule, ...]  # the first that matches wins


class DNSSettings(IRStruct, frozen=True, kw_only=True):
    """How Envoy resolves the hostnames of a STRICT_DNS cluster (Envoy Gateway's defaults: 30 s, TTL respected)."""

    refresh_rate_ms: int = 30_000
    respect_ttl: bool = True
    lookup_family: str | None = None  # IPv4, IPv6, IPv4Preferred, IPv6Preferred, IPv4AndIPv6; None: IPv4Preferred


class BandwidthLimit(IRStruct, frozen=True, kw_only=True):
    """A route's bandwidth limits, in KiB per second, per direction (Envoy's bandwidth limit filter)."""

    request_kibps: int | None = None  # client to backend
    response_kibps: int | None = None  # backend to client
    response_trailers: bool = False  # the response ends with trailers of the delays the limits caused
    response_trailer_prefix: str | None = None

    @property
    def filter_keys(self) -> tuple[str, ...]:
        """The route's `filters` entries: one bandwidth limit filter per direction it limits."""
        return tuple(
            key
            for key, limit in (
                ("bandwidth_limit/request", self.request_kibps),
                ("bandwidth_limit/response", self.response_kibps),
            )
            if limit is not None
        )


class AdmissionControl(IRStruct, frozen=True, kw_only=True):
    """Load shedding on the way to a route's backends (Envoy's admission control filter, on their clusters).
    Unset settings are Envoy's defaults; no success statuses: Envoy's (HTTP 2xx, gRPC OK)."""

    sampling_window_ms: int | None = None
    min_success_rate: int | None = None  # percent
    rejection_aggression: int | None = None
    min_request_rate: int | None = None  # requests per second
    max_rejection_percent: int | None = None
    http_success_statuses: tuple[int, ...] = ()
    grpc_success_statuses: tuple[int, ...] = ()
