"""BackendTrafficPolicy's per-route HTTP filters: compressors, custom responses and request buffering.

As in Envoy Gateway, each filter is added to a connection manager, disabled, only when one of its routes needs
it, and a route enables it with its own configuration (`typed_per_filter_config`). So a policy change touches
route configurations only, unless it makes a listener need a filter it did not have.

  compressor       `envoy.filters.http.compressor.<type>[.min<bytes>]`: one per type (gzip, brotli, zstd) and
                   minimum response length (a filter-level setting Envoy cannot override per route); a route may
                   override the compressor library's settings
  custom response  `envoy.filters.http.custom_response`: the route's rules as its matcher (status codes,
                   ranges), each answering with a local response
  buffer           `envoy.filters.http.buffer`: the route's maximum request size (413 beyond it)
"""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2, extension_pb2
from envoy.extensions.compression.brotli.compressor.v3 import brotli_pb2
from envoy.extensions.compression.gzip.compressor.v3 import gzip_pb2
from envoy.extensions.compression.zstd.compressor.v3 import zstd_pb2
from envoy.extensions.filters.http.buffer.v3 import buffer_pb2
from envoy.extensions.filters.http.compressor.v3 import compressor_pb2
from envoy.extensions.filters.http.custom_response.v3 import custom_response_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.http.custom_response.local_response_policy.v3 import local_response_policy_pb2
from envoy.type.matcher.v3 import status_code_input_pb2
from google.protobuf import wrappers_pb2
from xds.core.v3 import extension_pb2 as xds_extension_pb2
from xds.type.matcher.v3 import matcher_pb2, regex_pb2, string_pb2

from projections import ir
from projections.xds.translate.packing import packed

CUSTOM_RESPONSE_FILTER = "envoy.filters.http.custom_response"
BUFFER_FILTER = "envoy.filters.http.buffer"
_FILTER_PREFIX = "envoy.filters.http."
_COMPRESSOR_KEY_PREFIX = "compressor."
# The connection manager's buffer filter is disabled, and every route that enables it sets its own limit: this
# one is never applied (Envoy requires one).
_UNUSED_BUFFER_LIMIT = 1 << 20

_LIBRARIES = {
    "Gzip": "envoy.compression.gzip.compressor",
    "Brotli": "envoy.compression.brotli.compressor",
    "Zstd": "envoy.compression.zstd.compressor",
}
_GZIP_STRATEGIES = {
    "Default": "DEFAULT_STRATEGY",
    "Filtered": "FILTERED",
    "HuffmanOnly": "HUFFMAN_ONLY",
    "RLE": "RLE",
    "Fixed": "FIXED",
}


def _uint32(value: int | None) -> Any:
    return wrappers_pb2.UInt32Value(value=value) if value is not None else None


# --- compressor ----------------------------------------------------------------------------------------------


def compressor_filter_name(compression: ir.Compression) -> str:
    return _FILTER_PREFIX + compression.filter_key


def _library_config(compression: ir.Compression) -> Any:
    if compression.type == "Brotli":
        brotli = brotli_pb2.Brotli(
            quality=_uint32(compression.level),
            window_bits=_uint32(compression.window_bits),
            input_block_bits=_uint32(compression.input_block_bits),
            chunk_size=_uint32(compression.chunk_size),
            disable_literal_context_modeling=compression.disable_literal_context_modeling,
        )
        if compression.strategy is not None:
            brotli.encoder_mode = brotli_pb2.Brotli.EncoderMode.Value(compression.strategy.upper())
        return brotli
    if compression.type == "Zstd":
        zstd = zstd_pb2.Zstd(
            compression_level=_uint32(compression.level),
            enable_checksum=compression.enable_checksum,
            chunk_size=_uint32(compression.chunk_size),
        )
        if compression.strategy is not None:
            zstd.strategy = zstd_pb2.Zstd.Strategy.Value(compression.strategy.upper())
        return zstd
    gzip = gzip_pb2.Gzip(
        memory_level=_uint32(compression.memory_level),
        window_bits=_uint32(compression.window_bits),
        chunk_size=_uint32(compression.chunk_size),
    )
    if compression.level is not None:
        gzip.compression_level = gzip_pb2.Gzip.CompressionLevel.Value(f"COMPRESSION_LEVEL_{compression.level}")
    if compression.strategy is not None:
        gzip.compression_strategy = gzip_pb2.Gzip.CompressionStrategy.Value(_GZIP_STRATEGIES[compression.strategy])
    return gzip


def _library(compression: ir.Compression) -> Any:
    return extension_pb2.TypedExtensionConfig(
        name=_LIBRARIES[compression.type], typed_config=packed(_library_config(compression))
    )


def _compressor_filter(key: str) -> Any:
    """The connection manager's compressor for a route `filters` key (`compressor.<type>[.min<bytes>]`), with
    the library's defaults (routes override them)."""
    kind, _, minimum = key.removeprefix(_COMPRESSOR_KEY_PREFIX).partition(".min")
    compression = ir.Compression(
        type=next(t for t in _LIBRARIES if t.lower() == kind), min_content_length=int(minimum) if minimum else None
    )
    config = compressor_pb2.Compressor(compressor_library=_library(compression))
    if compression.min_content_length is not None:
        config.response_direction_config.common_config.min_content_length.value = compression.min_content_length
    return hcm.HttpFilter(name=compressor_filter_name(compression), typed_config=packed(config), disabled=True)


def _has_settings(compression: ir.Compression) -> bool:
    return ir.Compression(type=compression.type, min_content_length=compression.min_content_length) != compression


def compressor_configs(route: ir.HTTPRoute) -> dict[str, Any]:
    """The route's compressors, by filter name: enabled, with the route's library settings if it has any."""
    configs = {}
    for compression in route.compression:
        overrides = compressor_pb2.CompressorOverrides(
            response_direction_config=compressor_pb2.ResponseDirectionOverrides()
        )
        if _has_settings(compression):
            overrides.compressor_library.CopyFrom(_library(compression))
        configs[compressor_filter_name(compression)] = packed(compressor_pb2.CompressorPerRoute(overrides=overrides))
    return configs


# --- custom response -----------------------------------------------------------------------------------------

_STATUS_INPUT = xds_extension_pb2.TypedExtensionConfig(
    name="http-response-status-code-match-input",
    typed_config=packed(status_code_input_pb2.HttpResponseStatusCodeMatchInput()),
)


def _status_predicate(value_match: Any) -> Any:
    return matcher_pb2.Matcher.MatcherList.Predicate(
        single_predicate=matcher_pb2.Matcher.MatcherList.Predicate.SinglePredicate(
            input=_STATUS_INPUT, value_match=value_match
        )
    )


def _rule_predicate(rule: ir.ResponseOverrideRule) -> Any:
    """Any of the rule's statuses, exactly, or any status of its ranges (a regular expression of the codes)."""
    predicates = [_status_predicate(string_pb2.StringMatcher(exact=str(status))) for status in rule.statuses]
    for span in rule.ranges:
        codes = "|".join(str(code) for code in range(span.start, span.end + 1))
        regex = string_pb2.StringMatcher(
            safe_regex=regex_pb2.RegexMatcher(google_re2=regex_pb2.RegexMatcher.GoogleRE2(), regex=f"^(?:{codes})$")
        )
        predicates.append(_status_predicate(regex))
    if len(predicates) == 1:
        return predicates[0]
    return matcher_pb2.Matcher.MatcherList.Predicate(
        or_matcher=matcher_pb2.Matcher.MatcherList.Predicate.PredicateList(predicate=predicates)
    )


def _local_response(rule: ir.ResponseOverrideRule) -> Any:
    policy = local_response_policy_pb2.LocalResponsePolicy(status_code=_uint32(rule.status))
    if rule.body is not None:
        policy.body.inline_string = rule.body
    if rule.content_type:
        policy.response_headers_to_add.append(
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key="content-type", value=rule.content_type),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            )
        )
    return policy


def custom_response_config(override: ir.ResponseOverride) -> Any:
    """The route's custom responses: its rules in order, the first that matches the response wins."""
    matchers = [
        matcher_pb2.Matcher.MatcherList.FieldMatcher(
            predicate=_rule_predicate(rule),
            on_match=matcher_pb2.Matcher.OnMatch(
                action=xds_extension_pb2.TypedExtensionConfig(
                    name=f"response-override/{i}", typed_config=packed(_local_response(rule))
                )
            ),
        )
        for i, rule in enumerate(override.rules)
    ]
    config = custom_response_pb2.CustomResponse(
        custom_response_matcher=matcher_pb2.Matcher(matcher_list=matcher_pb2.Matcher.MatcherList(matchers=matchers))
    )
    return packed(config)


# --- buffer --------------------------------------------------------------------------------------------------


def buffer_config(max_request_bytes: int) -> Any:
    return packed(buffer_pb2.BufferPerRoute(buffer=buffer_pb2.Buffer(max_request_bytes=_uint32(max_request_bytes))))


# --- the connection manager's filters ------------------------------------------------------------------------


def leading_http_filters(names: tuple[str, ...]) -> list[Any]:
    """Filters first in the chain (Envoy Gateway's order): the custom response filter, so that it sees every
    response, local replies included."""
    if "custom_response" not in names:
        return []
    config = packed(custom_response_pb2.CustomResponse())
    return [hcm.HttpFilter(name=CUSTOM_RESPONSE_FILTER, typed_config=config, disabled=True)]


def buffer_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The buffer filter: after the security filters, before rate limits."""
    if "buffer" not in names:
        return []
    config = packed(buffer_pb2.Buffer(max_request_bytes=_uint32(_UNUSED_BUFFER_LIMIT)))
    return [hcm.HttpFilter(name=BUFFER_FILTER, typed_config=config, disabled=True)]


def trailing_http_filters(names: tuple[str, ...]) -> list[Any]:
    """The compressors: last before the router, as in Envoy Gateway."""
    return [_compressor_filter(name) for name in sorted(names) if name.startswith(_COMPRESSOR_KEY_PREFIX)]
