"""BackendTrafficPolicy -> IR: what the winning policies of a route (its own, its listener's, its Gateway's)
set on it. Each feature comes from the most specific policy that sets it."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Sequence
from typing import get_args

import msgspec

from projections import ir
from projections.gatewayapi.backends import Problem
from projections.gatewayapi.http import custom_response_body, parse_duration
from projections.gatewayapi.inputs import Reader, Resource
from projections.resources.envoygateway import BackendTrafficPolicy
from projections.resources.envoygateway.backendtrafficpolicy import (
    AdmissionControl,
    BackendTrafficPolicySpec,
    BandwidthLimitSpec,
    BandwidthLimitValue,
    Compression,
    FaultInjection,
    GRPCSuccessCode,
    ProtocolUpgradeConfig,
    ResponseOverride,
)
from projections.resources.envoygateway.clienttrafficpolicy import HTTP2ClientSettings
from projections.resources.envoygateway.cluster import (
    DNS,
    ActiveHealthCheck,
    ActiveHealthCheckPayload,
    BackendUtilization,
    CircuitBreaker,
    HTTP2Settings,
    LoadBalancer,
    PassiveHealthCheck,
    PreferLocalZone,
    Retry,
    TCPKeepalive,
    Timeout,
)
from projections.resources.envoygateway.ratelimit import RateLimitCostSpecifier, RateLimitRule, RateLimitSpec

BTP = "BackendTrafficPolicy"


def rate_limit_of(policy: Resource) -> ir.RateLimit | None:
    model = policy.model
    if not isinstance(model, BackendTrafficPolicy) or model.spec.rate_limit is None:
        return None
    spec: RateLimitSpec = model.spec.rate_limit
    name = f"{policy.key.namespace}/{policy.key.name}"
    if spec.type == "Global" and spec.global_ is not None:
        shared = bool(spec.global_.shared)
        rules = tuple(_rule(i, r, shared) for i, r in enumerate(spec.global_.rules))
        return ir.RateLimit(type="Global", policy=name, rules=rules)
    if spec.type == "Local" and spec.local is not None:
        rules = tuple(_rule(i, r, False) for i, r in enumerate(spec.local.rules))
        return ir.RateLimit(type="Local", policy=name, rules=rules)
    return None


def _rule(index: int, rule: RateLimitRule, shared: bool) -> ir.RateLimitRule:
    headers: list[ir.RateLimitHeader] = []
    methods: list[str] = []
    methods_invert: list[str] = []
    path: ir.PathMatch | None = None
    path_invert = False
    source: ir.RateLimitSource | None = None
    for selector in rule.client_selectors:  # every condition of every selector must hold
        headers.extend(
            ir.RateLimitHeader(name=h.name, type=h.type, value=h.value or "", invert=h.invert) for h in selector.headers
        )
        for method in selector.methods:
            (methods_invert if method.invert else methods).append(method.value)
        if selector.path is not None:
            path = ir.PathMatch(type=selector.path.type, value=selector.path.value)
            path_invert = selector.path.invert
        if selector.source_cidr is not None:
            network = ipaddress.ip_network(selector.source_cidr.value, strict=False)
            source = ir.RateLimitSource(cidr=str(network), distinct=selector.source_cidr.type == "Distinct")
    cost = rule.cost
    return ir.RateLimitRule(
        index=index,
        requests=rule.limit.requests,
        unit=rule.limit.unit,
        headers=tuple(headers),
        methods=tuple(methods),
        methods_invert=tuple(methods_invert),
        path=path,
        path_invert=path_invert,
        source=source,
        cost=_cost(cost.request) if cost is not None and cost.request is not None else None,
        response_cost=_cost(cost.response) if cost is not None and cost.response is not None else None,
        shadow_mode=bool(rule.shadow_mode),
        shared=rule.shared if rule.shared is not None else shared,
    )


def _cost(spec: RateLimitCostSpecifier) -> ir.RateLimitCost:
    """Envoy Gateway's hits addend: the number, or Envoy's format reading it from the dynamic metadata."""
    if spec.from_ == "Metadata" and spec.metadata is not None:
        return ir.RateLimitCost(format=f"%DYNAMIC_METADATA({spec.metadata.namespace}:{spec.metadata.key})%")
    return ir.RateLimitCost(number=spec.number)


def _rate_limit_problems(spec: RateLimitSpec) -> list[str]:
    """What egd cannot honour in a rate limit: an inverted source CIDR (Envoy Gateway uses Envoy's
    remote_address_match action, which the xDS protos egd builds with do not have yet); and, for a local limit,
    shadow mode and a response cost (Envoy's local_ratelimit filter has neither; Envoy Gateway refuses them)."""
    problems: list[str] = []
    section = "local" if spec.type == "Local" else "global"
    chosen = spec.local if spec.type == "Local" else spec.global_
    for i, rule in enumerate(chosen.rules if chosen is not None else ()):
        problems.extend(
            f"rateLimit.{section}.rules[{i}].clientSelectors[{j}].sourceCIDR.invert is not supported by egd"
            for j, selector in enumerate(rule.client_selectors)
            if selector.source_cidr is not None and selector.source_cidr.invert
        )
    if spec.type != "Local" or spec.local is None:
        return problems
    for i, rule in enumerate(spec.local.rules):
        where = f"rateLimit.local.rules[{i}]"
        if rule.shadow_mode:
            problems.append(f"{where}.shadowMode is not supported for local rate limits")
        if rule.cost is not None and rule.cost.response is not None:
            problems.append(f"{where}.cost.response is not supported for local rate limits")
    return problems


# --- traffic settings ----------------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([EPTGMK]i|[EPTGMkK])?$")

# Envoy Gateway's retryOn when a policy asks for retries without saying on what.
DEFAULT_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes")
DEFAULT_RETRY_STATUS = (503,)


def parse_quantity(value: str | int) -> int:
    """Bytes in a Kubernetes quantity (`32Ki`, `1M`, `1024`)."""
    if isinstance(value, int):
        return value
    found = _QUANTITY.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not a quantity")
    number, suffix = found.groups()
    scale = _BINARY.get(suffix or "") or _DECIMAL.get(suffix or "") or 1
    return int(float(number) * scale)


def _ms(text: str | None) -> int | None:
    return parse_duration(text) if text is not None else None


def check_backend_traffic(reader: Reader, policy: Resource) -> tuple[str, ...]:
    """What egd cannot honour in a BackendTrafficPolicy (then it applies nowhere, as in Envoy Gateway)."""
    problems = problems_of(policy)
    model = policy.model
    if not isinstance(model, BackendTrafficPolicy):
        return problems
    for i, override in enumerate(model.spec.response_override):
        if override.response is not None and override.response.body is not None:
            found = custom_response_body(reader, policy.key.namespace, override.response.body)
            if isinstance(found, Problem):
                problems = (*problems, f"responseOverride[{i}].response.body: {found.message}")
    return problems


def problems_of(policy: Resource) -> tuple[str, ...]:
    model = policy.model
    if not isinstance(model, BackendTrafficPolicy):
        return ()
    spec = model.spec
    problems = [
        f"{name} is not supported by egd"
        for name, value in (
            ("telemetry", spec.telemetry),
            ("retry.numAttemptsPerPriority", spec.retry.num_attempts_per_priority if spec.retry else None),
        )
        if value
    ]
    problems.extend(_limit_problems(spec))
    if spec.rate_limit is not None:
        problems.extend(_rate_limit_problems(spec.rate_limit))
    if spec.load_balancer is not None:
        problems.extend(_balancer_problems(spec.load_balancer))
    quantities: list[tuple[str, str | int | None, int]] = [
        ("connection.bufferLimit", spec.connection.buffer_limit if spec.connection else None, 0),
        ("connection.socketBufferLimit", spec.connection.socket_buffer_limit if spec.connection else None, 0),
        ("requestBuffer.limit", spec.request_buffer.limit if spec.request_buffer else None, 1),
    ]
    field = "compressor" if spec.compressor else "compression"
    quantities.extend(
        (f"{field}[{i}].minContentLength", c.min_content_length, 30)
        for i, c in enumerate(spec.compressor or spec.compression)
    )
    for name, quantity, least in quantities:
        if quantity is not None:
            problems.extend(_bytes_problem(name, quantity, least))
    if spec.connection is not None and spec.connection.socket_buffer_limit is not None:
        problems.append("connection.socketBufferLimit is not supported by egd")
    problems.extend(
        f"httpUpgrade[{i}].connect is not supported by egd" for i, u in enumerate(spec.http_upgrade) if u.connect
    )
    for i, override in enumerate(spec.response_override):
        for name, value in (
            ("redirect", override.redirect),
            ("match.source", override.match.source if override.match.source != "Any" else None),
            ("response.header", override.response.header if override.response else None),
        ):
            if value:
                problems.append(f"responseOverride[{i}].{name} is not supported by egd")
    return tuple(problems)


def _balancer_problems(balancer: LoadBalancer) -> list[str]:
    problems = []
    utilization = balancer.backend_utilization
    if utilization is not None and utilization.oob:
        problems.append("loadBalancer.backendUtilization.oob is not supported by egd")
    zone_aware = balancer.zone_aware
    if balancer.type == "BackendUtilization" and zone_aware is not None and zone_aware.prefer_local is not None:
        # Envoy's wrr_locality, which carries BackendUtilization's zones, has no prefer-local mode
        problems.append("loadBalancer.zoneAware.preferLocal is not supported with type BackendUtilization")
    if zone_aware is not None:  # a locality of weight 0 is one Envoy refuses
        problems.extend(
            f"loadBalancer.zoneAware.weightedZones[{i}].weight must be at least 1"
            for i, zone in enumerate(zone_aware.weighted_zones)
            if zone.weight < 1
        )
    if balancer.endpoint_override is not None:
        problems.extend(
            f"loadBalancer.endpointOverride.extractFrom[{i}] needs header"
            for i, source in enumerate(balancer.endpoint_override.extract_from)
            if not source.header
        )
    return problems


_UINT32_MAX = 2**32 - 1


def _bytes_problem(name: str, quantity: str | int, least: int) -> list[str]:
    """Why `quantity` cannot be a byte count of Envoy's (a uint32 of at least `least`), if it cannot."""
    try:
        count = parse_quantity(quantity)
    except ValueError:
        return [f"{name} {quantity!r} is not a quantity"]
    if not least <= count <= _UINT32_MAX:
        return [f"{name} {quantity!r} is out of range: between {least} and {_UINT32_MAX} bytes"]
    return []


class RouteTraffic(msgspec.Struct, frozen=True, kw_only=True):
    """What BackendTrafficPolicies set on one route (route-level fields) and its clusters."""

    retry: ir.Retry | None = None
    fault: ir.Fault | None = None
    hash_policy: ir.HashPolicy | None = None
    request_timeout_ms: int | None = None
    max_stream_duration_ms: int | None = None
    cluster: ir.ClusterSettings | None = None
    compression: tuple[ir.Compression, ...] = ()
    response_override: ir.ResponseOverride | None = None
    request_buffer_bytes: int | None = None
    upgrades: tuple[str, ...] = ir.DEFAULT_UPGRADES
    bandwidth_limit: ir.BandwidthLimit | None = None
    remove_response_headers: tuple[str, ...] = ()  # the ORCA load reports of BackendUtilization's backends
    service_routing: bool = False  # routingType Service: to each Service's cluster IP, not its endpoints

    @property
    def filters(self) -> tuple[str, ...]:
        """The optional HTTP filters these settings need in the route's connection manager."""
        found = [c.filter_key for c in self.compression]
        if self.bandwidth_limit is not None:
            found.extend(self.bandwidth_limit.filter_keys)
        for name, needed in (
            ("fault", self.fault is not None),
            ("custom_response", self.response_override is not None),
            ("buffer", self.request_buffer_bytes is not None),
        ):
            if needed:
                found.append(name)
        return tuple(found)


def route_traffic(reader: Reader, policy: Resource) -> RouteTraffic:
    """The traffic settings a route gets from its BackendTrafficPolicy: the most specific one, whole (merged onto
    its parent's when it says so), which egd can honour (else the route answers 500: see `routes._settings`)."""
    if not isinstance(policy.model, BackendTrafficPolicy):
        return RouteTraffic()
    spec = policy.model.spec
    balancer, retry, timeout, fault = spec.load_balancer, spec.retry, spec.timeout, spec.fault_injection
    http_timeout = timeout.http if timeout is not None else None
    overrides = spec.response_override
    buffer, upgrades, bandwidth = spec.request_buffer, spec.http_upgrade, spec.bandwidth_limit
    return RouteTraffic(
        retry=_retry(retry) if retry is not None else None,
        fault=_fault(fault) if fault is not None else None,
        hash_policy=_hash_policy(balancer),
        request_timeout_ms=_ms(http_timeout.request_timeout) if http_timeout else None,
        max_stream_duration_ms=_ms(http_timeout.max_stream_duration) if http_timeout else None,
        cluster=_cluster_settings(spec, balancer, timeout),
        compression=tuple(_compression(c) for c in _compressions(spec)),
        response_override=_response_override(reader, policy, overrides) if overrides else None,
        request_buffer_bytes=parse_quantity(buffer.limit) if buffer is not None else None,
        upgrades=_upgrades(upgrades) if upgrades else ir.DEFAULT_UPGRADES,
        bandwidth_limit=_bandwidth_limit(bandwidth) if bandwidth is not None else None,
        remove_response_headers=_load_report_headers(balancer),
        service_routing=spec.routing_type == "Service",
    )


# The response headers that carry a backend's ORCA load report: Envoy Gateway removes them from responses
# unless the policy keeps them.
ORCA_HEADERS = ("endpoint-load-metrics", "endpoint-load-metrics-bin")


def _load_report_headers(balancer: LoadBalancer | None) -> tuple[str, ...]:
    utilization = balancer.backend_utilization if balancer is not None else None
    if balancer is None or balancer.type != "BackendUtilization" or utilization is None:
        return ()
    return () if utilization.keep_response_headers else ORCA_HEADERS


def _compressions(spec: BackendTrafficPolicySpec) -> tuple[Compression, ...]:
    """`compressor` wins over the deprecated `compression`, and counts an entry only with its type's settings
    (as Envoy Gateway does)."""
    if not spec.compressor:
        return spec.compression
    return tuple(c for c in spec.compressor if {"Gzip": c.gzip, "Brotli": c.brotli, "Zstd": c.zstd}[c.type])


def _compression(compression: Compression) -> ir.Compression:
    minimum = compression.min_content_length
    length = parse_quantity(minimum) if minimum is not None else None
    if compression.type == "Brotli" and compression.brotli is not None:
        brotli = compression.brotli
        return ir.Compression(
            type="Brotli",
            min_content_length=length,
            level=brotli.quality,
            strategy=brotli.encoder_mode,
            window_bits=brotli.window_bits,
            input_block_bits=brotli.input_block_bits,
            chunk_size=brotli.chunk_size,
            disable_literal_context_modeling=bool(brotli.disable_literal_context_modeling),
        )
    if compression.type == "Zstd" and compression.zstd is not None:
        zstd = compression.zstd
        return ir.Compression(
            type="Zstd",
            min_content_length=length,
            level=zstd.compression_level,
            strategy=zstd.strategy,
            chunk_size=zstd.chunk_size,
            enable_checksum=bool(zstd.enable_checksum),
        )
    if compression.type == "Gzip" and compression.gzip is not None:
        gzip = compression.gzip
        return ir.Compression(
            type="Gzip",
            min_content_length=length,
            level=gzip.compression_level,
            strategy=gzip.compression_strategy,
            memory_level=gzip.memory_level,
            window_bits=gzip.window_bits,
            chunk_size=gzip.chunk_size,
        )
    return ir.Compression(type=compression.type, min_content_length=length)


def _response_override(reader: Reader, policy: Resource, overrides: Sequence[ResponseOverride]) -> ir.ResponseOverride:
    rules = []
    for override in overrides:
        response = override.response
        assert response is not None  # a redirect makes the policy Invalid
        body = custom_response_body(reader, policy.key.namespace, response.body) if response.body is not None else None
        assert not isinstance(body, Problem)  # a missing body makes the policy Invalid
        codes = override.match.status_codes
        rules.append(
            ir.ResponseOverrideRule(
                statuses=tuple(c.value for c in codes if c.type == "Value" and c.value is not None),
                ranges=tuple(
                    ir.StatusRange(start=c.range.start, end=c.range.end)
                    for c in codes
                    if c.type == "Range" and c.range is not None
                ),
                status=response.status_code,
                body=body,
                content_type=response.content_type,
            )
        )
    return ir.ResponseOverride(rules=tuple(rules))


def _upgrades(configs: Sequence[ProtocolUpgradeConfig]) -> tuple[str, ...]:
    """The upgrade types, each once (Envoy matches them case-insensitively)."""
    found: dict[str, str] = {}
    for config in configs:
        found.setdefault(config.type.lower(), config.type)
    return tuple(found.values())


def _retry(retry: Retry) -> ir.Retry:
    triggers: tuple[str, ...] = DEFAULT_RETRY_ON
    codes: tuple[int, ...] = DEFAULT_RETRY_STATUS
    if retry.retry_on is not None:
        triggers = retry.retry_on.triggers
        codes = retry.retry_on.http_status_codes
        if codes and "retriable-status-codes" not in triggers:
            triggers = (*triggers, "retriable-status-codes")
    per_retry = retry.per_retry
    back_off = per_retry.back_off if per_retry is not None else None
    return ir.Retry(
        num_retries=retry.num_retries if retry.num_retries is not None else 2,
        retry_on=triggers,
        status_codes=codes,
        per_try_timeout_ms=_ms(per_retry.timeout) if per_retry is not None else None,
        backoff_base_ms=_ms(back_off.base_interval) if back_off is not None else None,
        backoff_max_ms=_ms(back_off.max_interval) if back_off is not None else None,
    )


def _fault(fault: FaultInjection) -> ir.Fault:
    delay = abort = None
    if fault.delay is not None:
        delay_ms = _ms(fault.delay.fixed_delay) or 0
        percentage = fault.delay.percentage if fault.delay.percentage is not None else 100.0
        delay = ir.FaultDelay(fixed_delay_ms=delay_ms, percentage=percentage)
    if fault.abort is not None:
        percentage = fault.abort.percentage if fault.abort.percentage is not None else 100.0
        abort = ir.FaultAbort(
            http_status=fault.abort.http_status, grpc_status=fault.abort.grpc_status, percentage=percentage
        )
    return ir.Fault(delay=delay, abort=abort)


def _hash_policy(balancer: LoadBalancer | None) -> ir.HashPolicy | None:
    if balancer is None or balancer.type != "ConsistentHash" or balancer.consistent_hash is None:
        return None
    spec = balancer.consistent_hash
    if spec.type == "SourceIP":
        return ir.HashPolicy(source_ip=True)
    if spec.type == "Header" and spec.header is not None:
        return ir.HashPolicy(headers=(spec.header.name,))
    if spec.type == "Headers":
        return ir.HashPolicy(headers=tuple(h.name for h in spec.headers))
    if spec.type == "QueryParams":
        return ir.HashPolicy(query_params=tuple(q.name for q in spec.query_params))
    if spec.type == "Cookie" and spec.cookie is not None:
        cookie = ir.HashCookie(
            name=spec.cookie.name,
            ttl_ms=_ms(spec.cookie.ttl),
            attributes=tuple(sorted(spec.cookie.attributes.items())),
        )
        return ir.HashPolicy(cookie=cookie)
    return None


def _cluster_settings(
    spec: BackendTrafficPolicySpec, balancer: LoadBalancer | None, timeout: Timeout | None
) -> ir.ClusterSettings | None:
    breaker, health, connection = spec.circuit_breaker, spec.health_check, spec.connection
    keepalive, proxy_protocol, http2, dns = spec.tcp_keepalive, spec.proxy_protocol, spec.http2, spec.dns
    use_client_protocol, admission = spec.use_client_protocol, spec.admission_control
    tcp_timeout = timeout.tcp if timeout is not None else None
    http_timeout = timeout.http if timeout is not None else None
    settings = ir.ClusterSettings(
        load_balancer=_load_balancer(balancer),
        connect_timeout_ms=_ms(tcp_timeout.connect_timeout) if tcp_timeout else None,
        idle_timeout_ms=_ms(http_timeout.connection_idle_timeout) if http_timeout else None,
        max_connection_duration_ms=_ms(http_timeout.max_connection_duration) if http_timeout else None,
        circuit_breaker=_circuit_breaker(breaker) if breaker is not None else None,
        active_health_check=_active(health.active) if health is not None and health.active else None,
        outlier_detection=_passive(health.passive) if health is not None and health.passive else None,
        panic_threshold=health.panic_threshold if health is not None else None,
        buffer_limit_bytes=(
            parse_quantity(connection.buffer_limit)
            if connection is not None and connection.buffer_limit is not None
            else None
        ),
        tcp_keepalive=tcp_keepalive(keepalive),
        proxy_protocol=proxy_protocol.version if proxy_protocol is not None else None,
        http2=http2_settings(http2),
        use_client_protocol=bool(use_client_protocol),
        dns=_dns(dns) if dns is not None else None,
        admission_control=_admission_control(admission) if admission is not None else None,
    )
    return settings if settings != ir.ClusterSettings() else None


def _load_balancer(balancer: LoadBalancer | None) -> ir.LoadBalancer | None:
    if balancer is None:
        return None
    table_size = balancer.consistent_hash.table_size if balancer.consistent_hash is not None else None
    window = _ms(balancer.slow_start.window) if balancer.slow_start is not None else None
    utilization = balancer.backend_utilization if balancer.type == "BackendUtilization" else None
    zone_aware = balancer.zone_aware
    prefer_local = zone_aware.prefer_local if zone_aware is not None else None
    override = balancer.endpoint_override
    return ir.LoadBalancer(
        type=balancer.type,
        table_size=table_size,
        slow_start_window_ms=window,
        backend_utilization=_backend_utilization(utilization) if utilization is not None else None,
        prefer_local=_prefer_local(prefer_local) if prefer_local is not None else None,
        weighted_zones=tuple(ir.ZoneWeight(zone=z.zone, weight=z.weight) for z in zone_aware.weighted_zones)
        if zone_aware is not None
        else (),
        override_host_headers=tuple(s.header for s in override.extract_from if s.header) if override else (),
    )


def _backend_utilization(utilization: BackendUtilization) -> ir.BackendUtilization:
    penalty = utilization.error_utilization_penalty_percent
    return ir.BackendUtilization(
        blackout_period_ms=_ms(utilization.blackout_period),
        weight_expiration_period_ms=_ms(utilization.weight_expiration_period),
        weight_update_period_ms=_ms(utilization.weight_update_period),
        error_utilization_penalty=penalty / 100 if penalty is not None else None,
        metric_names=utilization.metric_names_for_computing_utilization,
    )


def _prefer_local(prefer_local: PreferLocalZone) -> ir.PreferLocalZone:
    force = None
    if prefer_local.force is not None:  # Envoy Gateway's default: one endpoint in the local zone is enough
        found = prefer_local.force.min_endpoints_in_zone_threshold
        force = found if found is not None else 1
    threshold = prefer_local.min_endpoints_threshold
    return ir.PreferLocalZone(
        min_cluster_size=threshold if threshold is not None else ir.PreferLocalZone().min_cluster_size,
        percentage_enabled=prefer_local.percentage_enabled,
        force_min_endpoints=force,
    )


def _dns(dns: DNS) -> ir.DNSSettings:
    refresh = _ms(dns.dns_refresh_rate)
    return ir.DNSSettings(
        refresh_rate_ms=refresh if refresh is not None else ir.DNSSettings().refresh_rate_ms,
        respect_ttl=dns.respect_dns_ttl if dns.respect_dns_ttl is not None else True,
        lookup_family=dns.lookup_family,
    )


def _circuit_breaker(breaker: CircuitBreaker) -> ir.CircuitBreaker:
    return ir.CircuitBreaker(
        max_connections=breaker.max_connections,
        max_pending_requests=breaker.max_pending_requests,
        max_parallel_requests=breaker.max_parallel_requests,
        max_parallel_retries=breaker.max_parallel_retries,
        max_requests_per_connection=breaker.max_requests_per_connection,
        per_endpoint_max_connections=breaker.per_endpoint.max_connections if breaker.per_endpoint else None,
    )


def _payload(payload: ActiveHealthCheckPayload | None) -> ir.HealthPayload | None:
    if payload is None:
        return None
    if payload.type == "Binary" and payload.binary is not None:
        return ir.HealthPayload(binary_hex=base64.b64decode(payload.binary).hex())
    return ir.HealthPayload(text=payload.text or "")


def _active(active: ActiveHealthCheck) -> ir.ActiveHealthCheck:
    http = active.http
    tcp = active.tcp
    return ir.ActiveHealthCheck(
        type=active.type,
        timeout_ms=_ms(active.timeout) or 1000,
        interval_ms=_ms(active.interval) or 3000,
        unhealthy_threshold=active.unhealthy_threshold or 3,
        healthy_threshold=active.healthy_threshold or 1,
        path=http.path if http is not None else None,
        hostname=http.hostname if http is not None else None,
        method=http.method if http is not None else None,
        expected_statuses=(http.expected_statuses or (200,)) if http is not None else (),
        expected_response=_payload(http.expected_response) if http is not None else None,
        send=_payload(tcp.send) if tcp is not None else None,
        receive=_payload(tcp.receive) if tcp is not None else None,
        grpc_service=active.grpc.service if active.grpc is not None else None,
    )


def _passive(passive: PassiveHealthCheck) -> ir.OutlierDetection:
    return ir.OutlierDetection(
        split_external_local_origin_errors=bool(passive.split_external_local_origin_errors),
        interval_ms=_ms(passive.interval),
        consecutive_local_origin_failures=passive.consecutive_local_origin_failures,
        consecutive_gateway_errors=passive.consecutive_gateway_errors,
        consecutive_5xx=passive.consecutive_5xx_errors,
        base_ejection_time_ms=_ms(passive.base_ejection_time),
        max_ejection_percent=passive.max_ejection_percent,
    )


def tcp_keepalive(keepalive: TCPKeepalive | None) -> ir.TCPKeepalive | None:
    if keepalive is None:
        return None
    idle = _ms(keepalive.idle_time)
    interval = _ms(keepalive.interval)
    return ir.TCPKeepalive(
        probes=keepalive.probes,
        idle_time_s=idle // 1000 if idle is not None else None,
        interval_s=interval // 1000 if interval is not None else None,
    )


def http2_settings(http2: HTTP2Settings | HTTP2ClientSettings | None) -> ir.HTTP2Settings | None:
    if http2 is None:
        return None
    stream = http2.initial_stream_window_size
    connection = http2.initial_connection_window_size
    return ir.HTTP2Settings(
        initial_stream_window_size=parse_quantity(stream) if stream is not None else None,
        initial_connection_window_size=parse_quantity(connection) if connection is not None else None,
        max_concurrent_streams=http2.max_concurrent_streams,
        terminate_stream_on_invalid_message=http2.on_invalid_message == "TerminateStream",
    )


def cluster_variants(
    settings: ir.ClusterSettings, destinations: Sequence[str], grpc: bool
) -> tuple[str, tuple[ir.ClusterVariant, ...]]:
    """The settings id of `settings` (a stable content hash) and one cluster variant per destination."""
    settings_id = ir.content_hash(settings)[:12]
    suffix = "/h2" if grpc else ""
    variants = tuple(
        ir.hashed(
            ir.ClusterVariant(
                name=f"{destination}/{settings_id}{suffix}", destination=destination, settings=settings, http2=grpc
            )
        )
        for destination in sorted(set(destinations))
    )
    return settings_id, variants


# --- bandwidth limit and admission control -------------------------------------------------------------------

_UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600}
# gRPC status codes by Envoy Gateway's names, in code order (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
_GRPC_CODES = {name: code for code, name in enumerate(get_args(GRPCSuccessCode))}


def _kibps(limit: BandwidthLimitValue) -> int:
    """A bandwidth limit in KiB per second, Envoy's unit, rounded down as Envoy Gateway does (0 when the
    limit cannot be read)."""
    try:
        return parse_quantity(limit.value) // (_UNIT_SECONDS[limit.unit] * 1024)
    except ValueError:
        return 0


def _limit_problems(spec: BackendTrafficPolicySpec) -> list[str]:
    """Why the policy's bandwidth limit or admission control cannot be honoured, if they cannot."""
    problems = []
    bandwidth = spec.bandwidth_limit
    if bandwidth is not None:
        for direction, config in (("request", bandwidth.request), ("response", bandwidth.response)):
            if config is not None and _kibps(config.limit) == 0:
                problems.append(
                    f"bandwidthLimit.{direction}.limit {config.limit.value!r} per {config.limit.unit} is below "
                    "Envoy's minimum of 1 KiB/s"
                )
    admission = spec.admission_control
    if admission is not None and admission.sampling_window is not None:
        window = _ms(admission.sampling_window)
        if window is None or window < 1000:
            problems.append(f"admissionControl.samplingWindow {admission.sampling_window!r} must be at least 1s")
    return problems


def _bandwidth_limit(spec: BandwidthLimitSpec) -> ir.BandwidthLimit:
    trailers = spec.response.response_trailers if spec.response is not None else None
    return ir.BandwidthLimit(
        request_kibps=_kibps(spec.request.limit) if spec.request is not None else None,
        response_kibps=_kibps(spec.response.limit) if spec.response is not None else None,
        response_trailers=trailers is not None,
        response_trailer_prefix=trailers.prefix if trailers is not None else None,
    )


def _admission_control(spec: AdmissionControl) -> ir.AdmissionControl:
    criteria = spec.success_criteria
    http = criteria.http.status_codes if criteria is not None and criteria.http is not None else ()
    grpc = criteria.grpc.status_codes if criteria is not None and criteria.grpc is not None else ()
    return ir.AdmissionControl(
        sampling_window_ms=_ms(spec.sampling_window),
        min_success_rate=spec.min_success_rate,
        rejection_aggression=spec.rejection_aggression,
        min_request_rate=spec.min_request_rate,
        max_rejection_percent=spec.max_rejection_percent,
        http_success_statuses=tuple(http),
        grpc_success_statuses=tuple(_GRPC_CODES[name] for name in grpc),
    )
