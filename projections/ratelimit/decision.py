"""The answer to a rate-limit request, given the counters after this request's hits (rl `base_limiter.go`).

- a counted descriptor is OVER_LIMIT iff its counter after the hits exceeds `requests_per_unit`; `limit_remaining`
  is what is left (0 when over) and `duration_until_reset` the seconds to the end of its fixed window;
- a `shadow_mode` rule answers OK even when over (its counter still moved);
- an unlimited rule answers OK with `limit_remaining` 2^32-1 and no `current_limit`; no rule answers OK, bare;
- the overall code is OVER_LIMIT iff a descriptor that is not in quota mode is over, or every quota-mode
  descriptor is (rl#1059); the global shadow mode (rl SHADOW_MODE) turns an overall OVER_LIMIT into OK.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import msgspec

from projections.ratelimit.config import MAX_UINT32
from projections.ratelimit.matching import Limited, Planned, Rule, Unlimited


class Code(enum.IntEnum):
    """`RateLimitResponse.Code`."""

    UNKNOWN = 0
    OK = 1
    OVER_LIMIT = 2


class DescriptorStatus(msgspec.Struct, frozen=True, kw_only=True):
    code: Code
    current_limit: Rule | None = None
    limit_remaining: int = 0
    duration_until_reset: int | None = None
    over_limit: bool = False  # over its limit, even if shadow mode answered OK


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    overall_code: Code
    statuses: tuple[DescriptorStatus, ...]


def decide(
    planned: Sequence[Planned], counters_after: Sequence[int | None], *, now: float, shadow_mode: bool = False
) -> Decision:
    """`counters_after[i]` is the counter of `planned[i]` after adding its hits (None where nothing is counted)."""
    statuses = tuple(_status(plan, counter, now) for plan, counter in zip(planned, counters_after, strict=True))
    over = False
    quota_over = [
        status.code is Code.OVER_LIMIT
        for plan, status in zip(planned, statuses, strict=True)
        if isinstance(plan, Limited) and plan.rule.quota_mode
    ]
    for plan, status in zip(planned, statuses, strict=True):
        if status.code is Code.OVER_LIMIT and not (isinstance(plan, Limited) and plan.rule.quota_mode):
            over = True
    if quota_over and all(quota_over):
        over = True
    overall = Code.OVER_LIMIT if over and not shadow_mode else Code.OK
    return Decision(overall_code=overall, statuses=statuses)


def _status(plan: Planned, counter: int | None, now: float) -> DescriptorStatus:
    if isinstance(plan, Unlimited):
        return DescriptorStatus(code=Code.OK, limit_remaining=MAX_UINT32)
    if not isinstance(plan, Limited):
        return DescriptorStatus(code=Code.OK)
    if counter is None:
        raise ValueError(f"no counter for {plan.cache_key}")
    rule = plan.rule
    seconds = rule.unit.seconds
    reset = seconds - int(now) % seconds
    if counter > rule.requests_per_unit:
        code = Code.OK if rule.shadow_mode else Code.OVER_LIMIT
        return DescriptorStatus(code=code, current_limit=rule, duration_until_reset=reset, over_limit=True)
    remaining = min(rule.requests_per_unit - counter, MAX_UINT32)
    return DescriptorStatus(code=Code.OK, current_limit=rule, limit_remaining=remaining, duration_until_reset=reset)
