"""BackendTrafficPolicy: how Envoy treats traffic from a Gateway or route to its backends."""

from __future__ import annotations

from typing import Literal

from projections.resources.envoygateway.cluster import ClusterSettings
from projections.resources.envoygateway.ratelimit import RateLimitSpec
from projections.resources.meta import K8sModel, K8sObject
from projections.resources.policy import LocalPolicyTargetReferenceWithSectionName, TargetSelector, check_policy_targets
from projections.resources.quantities import Duration, Percentage


class FaultInjectionDelay(K8sModel, frozen=True, kw_only=True):
    fixed_delay: Duration
    percentage: Percentage | None = None  # unset: every request


class FaultInjectionAbort(K8sModel, frozen=True, kw_only=True):
    http_status: int | None = None
    grpc_status: int | None = None
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
    type: str  # websocket, CONNECT, spdy/3.1...
    connect: dict[str, object] | None = None


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
    # Read by nothing yet; kept loosely typed (the stored document keeps them whole in any case).
    compression: tuple[dict[str, object], ...] = ()
    compressor: tuple[dict[str, object], ...] = ()
    response_override: tuple[dict[str, object], ...] = ()
    request_buffer: dict[str, object] | None = None
    bandwidth_limit: dict[str, object] | None = None
    admission_control: dict[str, object] | None = None
    telemetry: dict[str, object] | None = None

    def __post_init__(self) -> None:
        check_policy_targets(self)


class BackendTrafficPolicy(K8sObject, frozen=True, kw_only=True):
    spec: BackendTrafficPolicySpec
