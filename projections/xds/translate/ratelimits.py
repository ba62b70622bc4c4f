"""Rate limits in Envoy: the HTTP filters, the rate-limit service's cluster, and each route's actions.

Global limits: every HTTP connection manager whose routes use one gets `envoy.filters.http.ratelimit` (domain:
the Gateway, `<namespace>/<name>`; the gRPC service: the `egd-ratelimit` cluster at the address egd's
rate-limit service listens on, over TLS when egd serves it so; X-RateLimit headers DRAFT_VERSION_03; failing
open), and each limited route, in its `typed_per_filter_config`, one rate limit per rule (and one more applied
when the stream is done for a response cost), built from the plan in `projections.ratelimit.descriptors` (the
same plan the rate-limit service's descriptors are projected from).

Local limits: `envoy.filters.http.local_ratelimit` in the connection manager, disabled there (no token bucket),
and enabled per route by its `typed_per_filter_config`: a descriptor with a token bucket per rule, the actions
that produce it, and an unlimited default bucket (Envoy needs one) that a matching descriptor does not consume.
"""

from __future__ import annotations

from typing import Any

import msgspec
from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.config.ratelimit.v3 import rls_pb2 as rls_config_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.common.ratelimit.v3 import ratelimit_pb2 as common_ratelimit_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.transport_sockets.tls.v3 import common_pb2 as tls_common_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2, token_bucket_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from projections import ir
from projections.ratelimit.descriptors import Entry, rule_entries
from projections.xds.bootstrap import XdsClientTls
from projections.xds.translate.clusters import dns_cluster
from projections.xds.translate.packing import packed

RATELIMIT_CLUSTER = "egd-ratelimit"
GLOBAL_FILTER = "envoy.filters.http.ratelimit"
LOCAL_FILTER = "envoy.filters.http.local_ratelimit"
LOCAL_STAT_PREFIX = "http_local_rate_limiter"
MAX_UINT32 = 4_294_967_295
_UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Month": 2592000, "Year": 31536000}


class XdsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the xDS translation needs from the daemon: where egd's rate-limit service listens."""

    ratelimit_host: str = "127.0.0.1"
    ratelimit_port: int = 18081
    ratelimit_timeout_ms: int = 100  # Envoy's default is 20 ms; a Python service on a busy host needs more room
    ratelimit_tls: XdsClientTls | None = None
    """Given: Envoy reaches the rate-limit service over TLS with these files (paths on the Envoy's host)."""


def _duration(ms: int) -> Any:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000)


def http_filters(
    types: tuple[str, ...], domain: str, settings: XdsSettings, *, rate_limit_headers: bool = True
) -> list[Any]:
    """The rate-limit filters a connection manager needs for its routes' rate limit `types` (before the router);
    without `rate_limit_headers` (a ClientTrafficPolicy's `disableRateLimitHeaders`) the global limit adds no
    X-RateLimit headers, as in Envoy Gateway."""
    filters = []
    if "Local" in types:
        local = local_rate_limit_pb2.LocalRateLimit(stat_prefix=LOCAL_STAT_PREFIX)
        filters.append(hcm.HttpFilter(name=LOCAL_FILTER, typed_config=packed(local)))
    if "Global" in types:
        config = rate_limit_pb2.RateLimit(
            domain=domain,
            timeout=_duration(settings.ratelimit_timeout_ms),
            failure_mode_deny=False,
            enable_x_ratelimit_headers=(
                rate_limit_pb2.RateLimit.DRAFT_VERSION_03 if rate_limit_headers else rate_limit_pb2.RateLimit.OFF
            ),
            rate_limit_service=rls_config_pb2.RateLimitServiceConfig(
                grpc_service=grpc_service_pb2.GrpcService(
                    envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=RATELIMIT_CLUSTER)
                ),
                transport_api_version=config_source_pb2.V3,
            ),
        )
        filters.append(hcm.HttpFilter(name=GLOBAL_FILTER, typed_config=packed(config)))
    return filters


def build_ratelimit_cluster(settings: XdsSettings) -> Any:
    """A static HTTP/2 cluster at egd's rate-limit service."""
    cluster = dns_cluster(
        RATELIMIT_CLUSTER,
        settings.ratelimit_host,
        settings.ratelimit_port,
        http2=True,
        connect_timeout=duration_pb2.Duration(seconds=1),
        v4_preferred=False,
    )
    if settings.ratelimit_tls is not None:
        cluster.transport_socket.CopyFrom(
            base_pb2.TransportSocket(
                name="envoy.transport_sockets.tls", typed_config=packed(upstream_tls_context(settings.ratelimit_tls))
            )
        )
    return cluster


def upstream_tls_context(tls: XdsClientTls) -> Any:
    """Envoy's side of TLS to egd: trust egd's CA (and, with an SNI, require that name in egd's certificate),
    present Envoy's own certificate when given (mutual TLS); HTTP/2 by ALPN. The files are read by Envoy."""
    validation = tls_common_pb2.CertificateValidationContext(trusted_ca=base_pb2.DataSource(filename=tls.ca_file))
    if tls.sni:
        validation.match_typed_subject_alt_names.append(
            tls_common_pb2.SubjectAltNameMatcher(
                san_type=tls_common_pb2.SubjectAltNameMatcher.DNS, matcher=string_pb2.StringMatcher(exact=tls.sni)
            )
        )
    common = tls_pb2.CommonTlsContext(alpn_protocols=["h2"], validation_context=validation)
    if tls.cert_file and tls.key_file:
        common.tls_certificates.append(
            tls_common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=tls.cert_file),
                private_key=base_pb2.DataSource(filename=tls.key_file),
            )
        )
    return tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=tls.sni or "")


def _string_match(kind: str, value: str) -> Any:
    if kind == "RegularExpression":
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=value))
    if kind == "PathPrefix":
        return string_pb2.StringMatcher(prefix=value)
    return string_pb2.StringMatcher(exact=value)


def _action(entry: Entry) -> Any:
    if entry.action == "generic_key":
        return rc.RateLimit.Action(
            generic_key=rc.RateLimit.Action.GenericKey(descriptor_key=entry.key, descriptor_value=entry.value or "")
        )
    if entry.action == "request_headers":
        return rc.RateLimit.Action(
            request_headers=rc.RateLimit.Action.RequestHeaders(header_name=entry.header, descriptor_key=entry.key)
        )
    if entry.action == "header_value_match":
        return rc.RateLimit.Action(
            header_value_match=rc.RateLimit.Action.HeaderValueMatch(
                descriptor_key=entry.key,
                descriptor_value=entry.value or "",
                expect_match=wrappers_pb2.BoolValue(value=entry.expect_match),
                headers=[
                    rc.HeaderMatcher(name=entry.header, string_match=_string_match(entry.match_type, entry.match_value))
                ],
            )
        )
    if entry.action == "masked_remote_address":
        masked = rc.RateLimit.Action.MaskedRemoteAddress()
        if entry.ipv6:
            masked.v6_prefix_mask_len.value = entry.prefix_length
        else:
            masked.v4_prefix_mask_len.value = entry.prefix_length
        return rc.RateLimit.Action(masked_remote_address=masked)
    return rc.RateLimit.Action(remote_address=rc.RateLimit.Action.RemoteAddress())


def _hits_addend(cost: ir.RateLimitCost) -> Any:
    addend = rc.RateLimit.HitsAddend(format=cost.format)
    if cost.number is not None:
        addend.number.value = cost.number
    return addend


def _rate_limits(route: ir.HTTPRoute, limit: ir.RateLimit, rule: ir.RateLimitRule) -> list[Any]:
    """A rule's rate limits, as Envoy Gateway builds them: the request's (its cost as `hits_addend`) and, with
    a response cost, a twin with the same actions applied when the stream is done (it only adds hits: the
    answer comes too late to limit that request)."""
    actions = [_action(e) for e in rule_entries(route, limit, rule)]
    built = [rc.RateLimit(actions=actions)]
    if rule.cost is not None:
        built[0].hits_addend.CopyFrom(_hits_addend(rule.cost))
    if rule.response_cost is not None:
        built.append(
            rc.RateLimit(actions=actions, apply_on_stream_done=True, hits_addend=_hits_addend(rule.response_cost))
        )
    return built


def global_rate_limit(route: ir.HTTPRoute) -> Any | None:
    """The route's `typed_per_filter_config` for the ratelimit filter, packed (as Envoy Gateway sets it: Envoy
    honours a rate limit's `hits_addend` there, not in the route action's `rate_limits`): one rate limit per
    rule, two with a response cost. None without a global limit."""
    limit = route.rate_limit
    if limit is None or limit.type != "Global":
        return None
    built = [each for rule in limit.rules for each in _rate_limits(route, limit, rule)]
    return packed(rate_limit_pb2.RateLimitPerRoute(rate_limits=built))


def _bucket(requests: int, unit: str) -> Any:
    return token_bucket_pb2.TokenBucket(
        max_tokens=requests,
        tokens_per_fill=wrappers_pb2.UInt32Value(value=requests),
        fill_interval=duration_pb2.Duration(seconds=_UNIT_SECONDS[unit]),
    )


def local_rate_limit(route: ir.HTTPRoute) -> Any | None:
    """The route's `typed_per_filter_config` for the local_ratelimit filter, packed; None without a local limit."""
    limit = route.rate_limit
    if limit is None or limit.type != "Local":
        return None
    always = base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(numerator=100, denominator=percent_pb2.FractionalPercent.HUNDRED)
    )
    config = local_rate_limit_pb2.LocalRateLimit(
        stat_prefix=LOCAL_STAT_PREFIX,
        token_bucket=token_bucket_pb2.TokenBucket(
            max_tokens=MAX_UINT32,
            tokens_per_fill=wrappers_pb2.UInt32Value(value=MAX_UINT32),
            fill_interval=duration_pb2.Duration(seconds=1),
        ),
        filter_enabled=always,
        filter_enforced=always,
        always_consume_default_token_bucket=wrappers_pb2.BoolValue(value=False),
        enable_x_ratelimit_headers=common_ratelimit_pb2.DRAFT_VERSION_03,
    )
    for rule in limit.rules:
        if rule.requests <= 0:
            continue  # Envoy refuses an empty bucket; a zero limit is not programmed
        entries = rule_entries(route, limit, rule)
        config.descriptors.append(
            common_ratelimit_pb2.LocalRateLimitDescriptor(
                entries=[
                    common_ratelimit_pb2.RateLimitDescriptor.Entry(key=e.key, value=e.value or "") for e in entries
                ],
                token_bucket=_bucket(rule.requests, rule.unit),
            )
        )
        local = rc.RateLimit(actions=[_action(e) for e in entries])
        if rule.cost is not None:
            local.hits_addend.CopyFrom(_hits_addend(rule.cost))
        config.rate_limits.append(local)
    return packed(config)
