"""A BackendTrafficPolicy's `loadBalancer` as a cluster's typed `load_balancing_policy`, where the cluster's
`lb_policy` cannot say it: BackendUtilization (client-side weighted round robin over ORCA load reports),
`zoneAware` (zone-aware routing to the local zone, or weights per zone) and `endpointOverride` (the endpoints a
request header names, the balancer as fallback), as Envoy Gateway builds them."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import extension_pb2
from envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3 import (
    client_side_weighted_round_robin_pb2 as cswrr_pb2,
)
from envoy.extensions.load_balancing_policies.common.v3 import common_pb2
from envoy.extensions.load_balancing_policies.least_request.v3 import least_request_pb2
from envoy.extensions.load_balancing_policies.maglev.v3 import maglev_pb2
from envoy.extensions.load_balancing_policies.override_host.v3 import override_host_pb2
from envoy.extensions.load_balancing_policies.random.v3 import random_pb2
from envoy.extensions.load_balancing_policies.round_robin.v3 import round_robin_pb2
from envoy.extensions.load_balancing_policies.wrr_locality.v3 import wrr_locality_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2, duration_pb2

from projections import ir


def needs_typed_policy(balancer: ir.LoadBalancer) -> bool:
    """Whether `balancer` needs `load_balancing_policy` (the others are the cluster's `lb_policy`)."""
    return bool(
        balancer.backend_utilization is not None
        or balancer.prefer_local is not None
        or balancer.weighted_zones
        or balancer.override_host_headers
    )


def load_balancing_policy(balancer: ir.LoadBalancer) -> Any:
    """The cluster's `load_balancing_policy` for `balancer` (one that `needs_typed_policy`)."""
    policy = _picking_policy(balancer)
    if not balancer.override_host_headers:
        return policy
    override = override_host_pb2.OverrideHost(
        override_host_sources=[
            override_host_pb2.OverrideHost.OverrideHostSource(header=header)
            for header in balancer.override_host_headers
        ],
        fallback_policy=policy,
    )
    return _policy("envoy.load_balancing_policies.override_host", override)


def _picking_policy(balancer: ir.LoadBalancer) -> Any:
    if balancer.backend_utilization is not None:
        weighted = _policy("envoy.load_balancing_policies.client_side_weighted_round_robin", _cswrr(balancer))
        if not balancer.weighted_zones:
            return weighted
        # zone weights around the endpoint weights: Envoy's wrr_locality
        wrr = wrr_locality_pb2.WrrLocality(endpoint_picking_policy=weighted)
        return _policy("envoy.load_balancing_policies.wrr_locality", wrr)
    if balancer.type == "ConsistentHash":
        maglev = maglev_pb2.Maglev()
        if balancer.table_size is not None:
            maglev.table_size.value = balancer.table_size
        if balancer.weighted_zones:
            maglev.locality_weighted_lb_config.SetInParent()
        return _policy("envoy.load_balancing_policies.maglev", maglev)
    locality = _locality_config(balancer)
    if balancer.type == "Random":
        return _policy("envoy.load_balancing_policies.random", random_pb2.Random(locality_lb_config=locality))
    slow_start = _slow_start(balancer)
    if balancer.type == "LeastRequest":
        least = least_request_pb2.LeastRequest(locality_lb_config=locality, slow_start_config=slow_start)
        return _policy("envoy.load_balancing_policies.least_request", least)
    robin = round_robin_pb2.RoundRobin(locality_lb_config=locality, slow_start_config=slow_start)
    return _policy("envoy.load_balancing_policies.round_robin", robin)


def _cswrr(balancer: ir.LoadBalancer) -> Any:
    utilization = balancer.backend_utilization
    assert utilization is not None
    config = cswrr_pb2.ClientSideWeightedRoundRobin(
        metric_names_for_computing_utilization=utilization.metric_names, slow_start_config=_slow_start(balancer)
    )
    for field, ms in (
        ("blackout_period", utilization.blackout_period_ms),
        ("weight_expiration_period", utilization.weight_expiration_period_ms),
        ("weight_update_period", utilization.weight_update_period_ms),
    ):
        if ms is not None:
            getattr(config, field).CopyFrom(_duration(ms))
    if utilization.error_utilization_penalty is not None:
        config.error_utilization_penalty.value = utilization.error_utilization_penalty
    return config


def _locality_config(balancer: ir.LoadBalancer) -> Any | None:
    prefer = balancer.prefer_local
    if prefer is not None:
        zone_aware = common_pb2.LocalityLbConfig.ZoneAwareLbConfig()
        zone_aware.min_cluster_size.value = prefer.min_cluster_size
        if prefer.percentage_enabled is not None:
            zone_aware.routing_enabled.CopyFrom(percent_pb2.Percent(value=prefer.percentage_enabled))
        if prefer.force_min_endpoints is not None:
            zone_aware.force_local_zone.min_size.value = prefer.force_min_endpoints
        return common_pb2.LocalityLbConfig(zone_aware_lb_config=zone_aware)
    if balancer.weighted_zones:
        return common_pb2.LocalityLbConfig(
            locality_weighted_lb_config=common_pb2.LocalityLbConfig.LocalityWeightedLbConfig()
        )
    return None


def _slow_start(balancer: ir.LoadBalancer) -> Any | None:
    if balancer.slow_start_window_ms is None:
        return None
    return common_pb2.SlowStartConfig(slow_start_window=_duration(balancer.slow_start_window_ms))


def _policy(name: str, config: Any) -> Any:
    packed = any_pb2.Any()
    packed.Pack(config)
    return cluster_pb2.LoadBalancingPolicy(
        policies=[
            cluster_pb2.LoadBalancingPolicy.Policy(
                typed_extension_config=extension_pb2.TypedExtensionConfig(name=name, typed_config=packed)
            )
        ]
    )


def _duration(ms: int) -> Any:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=ms % 1000 * 1_000_000)
