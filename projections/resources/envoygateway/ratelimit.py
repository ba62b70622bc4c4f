"""Rate limits of a BackendTrafficPolicy: rules that select clients and the limit each selection gets."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.meta import K8sModel
from projections.resources.quantities import CIDR, UInt32
from projections.resources.regex import re2_problem

RateLimitUnit = Literal["Second", "Minute", "Hour", "Day", "Month", "Year"]
HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class HeaderMatch(K8sModel, frozen=True, kw_only=True):
    """`Distinct` gives each value of the header its own bucket (global limits only) and takes no value."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    type: Literal["Exact", "RegularExpression", "Distinct"] = "Exact"
    value: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    invert: bool = False

    def __post_init__(self) -> None:
        if self.type == "Distinct":
            if self.value is not None:
                raise ValueError("a header match of type Distinct takes no value")
            if self.invert:
                raise ValueError("a header match of type Distinct cannot be inverted")
        elif self.value is None:
            raise ValueError(f"a header match of type {self.type} needs a value")
        elif self.type == "RegularExpression" and (problem := re2_problem(self.value)) is not None:
            raise ValueError(problem)


class MethodMatch(K8sModel, frozen=True, kw_only=True):
    value: HTTPMethod
    invert: bool = False


class PathMatch(K8sModel, frozen=True, kw_only=True):
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    invert: bool = False

    def __post_init__(self) -> None:
        if self.type == "RegularExpression" and (problem := re2_problem(self.value)) is not None:
            raise ValueError(problem)


class SourceMatch(K8sModel, frozen=True, kw_only=True):
    """`Distinct` gives each client address in the range its own bucket (global limits only)."""

    value: CIDR
    type: Literal["Exact", "Distinct"] = "Exact"
    invert: bool = False


class RateLimitSelectCondition(K8sModel, frozen=True, kw_only=True):
    """Every condition given must hold for a request to count against the rule's limit."""

    headers: Annotated[tuple[HeaderMatch, ...], msgspec.Meta(max_length=16)] = ()
    methods: tuple[MethodMatch, ...] = ()
    path: PathMatch | None = None
    source_cidr: SourceMatch | None = msgspec.field(default=None, name="sourceCIDR")


class RateLimitValue(K8sModel, frozen=True, kw_only=True):
    requests: UInt32
    unit: RateLimitUnit


class RateLimitCostMetadata(K8sModel, frozen=True, kw_only=True):
    namespace: str
    key: str


class RateLimitCostSpecifier(K8sModel, frozen=True, kw_only=True):
    from_: Literal["Number", "Metadata"] = msgspec.field(name="from")
    number: UInt32 | None = None
    metadata: RateLimitCostMetadata | None = None

    def __post_init__(self) -> None:
        if self.from_ == "Number" and self.number is None:
            raise ValueError("a cost from Number needs number")
        if self.from_ == "Metadata" and self.metadata is None:
            raise ValueError("a cost from Metadata needs metadata")


class RateLimitCost(K8sModel, frozen=True, kw_only=True):
    request: RateLimitCostSpecifier | None = None
    response: RateLimitCostSpecifier | None = None


class RateLimitRule(K8sModel, frozen=True, kw_only=True):
    limit: RateLimitValue
    client_selectors: Annotated[tuple[RateLimitSelectCondition, ...], msgspec.Meta(max_length=8)] = ()
    cost: RateLimitCost | None = None
    shared: bool | None = None
    shadow_mode: bool | None = None


class GlobalRateLimit(K8sModel, frozen=True, kw_only=True):
    rules: Annotated[tuple[RateLimitRule, ...], msgspec.Meta(max_length=64)]
    shared: bool | None = None


class LocalRateLimit(K8sModel, frozen=True, kw_only=True):
    rules: Annotated[tuple[RateLimitRule, ...], msgspec.Meta(max_length=16)] = ()

    def __post_init__(self) -> None:
        for rule in self.rules:
            for selector in rule.client_selectors:
                if any(h.type == "Distinct" for h in selector.headers) or (
                    selector.source_cidr is not None and selector.source_cidr.type == "Distinct"
                ):
                    raise ValueError("Distinct matches are supported by global rate limits only")


class RateLimitSpec(K8sModel, frozen=True, kw_only=True):
    type: Literal["Global", "Local"]
    global_: GlobalRateLimit | None = msgspec.field(default=None, name="global")
    local: LocalRateLimit | None = None

    def __post_init__(self) -> None:
        if self.type == "Global" and self.global_ is None:
            raise ValueError("a rate limit of type Global needs global")
        if self.type == "Local" and self.local is None:
            raise ValueError("a rate limit of type Local needs local")
