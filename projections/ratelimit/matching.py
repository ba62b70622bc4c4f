"""Which rule applies to each descriptor of a rate-limit request, and the counter each one increments.

This follows envoyproxy/ratelimit (`src/config/config_impl.go` GetLimit, `src/service/ratelimit.go`,
`src/limiter/cache_key.go`):
- level by level along the request's entries, try the exact `key_value`, then the wildcard values of that level in
  config order (`*` matches any run of characters, anywhere), then the value-less `key`;
- a rule applies only at the request's depth, and there is no backtracking to a sibling once a node matched;
- a `limit` override in the request replaces the lookup, but only for a domain that is configured;
- `replaces` drops the named rules of the same request; `unlimited` rules never touch a counter;
- the counter key is `prefix + domain + "_" + ("key_value_" per entry) + window start`, a fixed window aligned to
  the Unix epoch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import msgspec

from projections.errors import RateLimitConfigError
from projections.ratelimit.config import Descriptor, RateLimitConfig, Unit, check_unique_domains

Entry = tuple[str, str]


class LimitOverride(msgspec.Struct, frozen=True, kw_only=True):
    """A request's own limit for one descriptor (Envoy's `RateLimitDescriptor.limit`)."""

    requests_per_unit: int
    unit: Unit


class RequestDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """One descriptor of a RateLimitRequest: ordered entries, an optional override and optional own hits."""

    entries: tuple[Entry, ...]
    limit: LimitOverride | None = None
    hits_addend: int | None = None


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded limit (rl's `RateLimit`). `full_key` is rl's stats path, `domain.key_value.key`."""

    full_key: str
    requests_per_unit: int
    unit: Unit
    unlimited: bool = False
    shadow_mode: bool = False
    quota_mode: bool = False
    detailed_metric: bool = False
    name: str = ""
    replaces: tuple[str, ...] = ()


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """The rule found for a descriptor and the entries its counter is keyed by.

    `key_entries` are the request's entries, except that a level matched by a `share_threshold` wildcard carries the
    wildcard's value, so that every value it matches shares one counter.
    """

    rule: Rule
    key_entries: tuple[Entry, ...]


class _Node:
    """One configured descriptor: its rule, and the next level keyed by composite key (`key` or `key_value`)."""

    __slots__ = ("children", "rule", "share_value", "wildcards")

    def __init__(self, rule: Rule | None, share_value: str | None) -> None:
        self.rule = rule
        self.share_value = share_value
        self.children: dict[str, _Node] = {}
        self.wildcards: list[tuple[re.Pattern[str], _Node]] = []


class RateLimitIndex:
    """A loaded set of configs (rl's `rateLimitConfigImpl`), built once and then only read.

    Configs must be valid (RateLimitConfig validates on construction); two configs for one domain are refused
    unless `merge_domains` (rl's MERGE_DOMAIN_CONFIG), when their descriptors are loaded into one tree and a
    composite key defined twice is still an error.
    """

    def __init__(self, configs: Iterable[RateLimitConfig], *, merge_domains: bool = False) -> None:
        configs = list(configs)
        if not merge_domains:
            check_unique_domains(configs)
        self._domains: dict[str, _Node] = {}
        for config in configs:
            root = self._domains.setdefault(config.domain, _Node(None, None))
            _load(root, config.descriptors, config.domain, config)
        self.configs: tuple[RateLimitConfig, ...] = tuple(configs)

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(self._domains)

    def has_domain(self, domain: str) -> bool:
        return domain in self._domains

    def find(self, domain: str, descriptor: RequestDescriptor) -> Match | None:
        """The rule for one descriptor, or None (unknown domain, no rule at the request's depth)."""
        root = self._domains.get(domain)
        if root is None:
            return None
        override = descriptor.limit
        if override is not None and override.unit is not Unit.UNKNOWN:
            rule = Rule(
                full_key=stats_key(domain, descriptor.entries),
                requests_per_unit=override.requests_per_unit,
                unit=override.unit,
            )
            return Match(rule=rule, key_entries=descriptor.entries)
        level = root
        key_entries: list[Entry] = []
        last = len(descriptor.entries) - 1
        for depth, (key, value) in enumerate(descriptor.entries):
            composite = f"{key}_{value}"
            node = level.children.get(composite)
            if node is None:
                node = next((n for pattern, n in level.wildcards if pattern.fullmatch(composite)), None)
            if node is None:
                node = level.children.get(key)
            if node is None:
                return None
            key_entries.append((key, node.share_value if node.share_value is not None else value))
            if depth == last:
                return Match(rule=node.rule, key_entries=tuple(key_entries)) if node.rule is not None else None
            if not node.children:
                return None
            level = node
        return None


def _load(parent: _Node, descriptors: tuple[Descriptor, ...], parent_key: str, config: RateLimitConfig) -> None:
    for descriptor in descriptors:
        composite = descriptor.composite_key
        full_key = f"{parent_key}.{composite}"
        if composite in parent.children:
            # Only reachable when merging domains: one config alone is validated on construction.
            raise RateLimitConfigError(
                config.name, config.domain, "", f"duplicate descriptor composite key '{full_key}'"
            )
        policy = descriptor.rate_limit
        rule = None
        if policy is not None:
            rule = Rule(
                full_key=full_key,
                requests_per_unit=policy.requests_per_unit,
                unit=policy.unit,
                unlimited=policy.unlimited,
                shadow_mode=descriptor.shadow_mode,
                quota_mode=descriptor.quota_mode,
                detailed_metric=descriptor.detailed_metric,
                name=policy.name,
                replaces=policy.replaces,
            )
        node = _Node(rule, descriptor.value if descriptor.share_threshold else None)
        parent.children[composite] = node
        if "*" in composite:
            parent.wildcards.append((_wildcard(composite), node))
        _load(node, descriptor.descriptors, full_key, config)


def _wildcard(composite: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in composite.split("*")), re.DOTALL)


def stats_key(domain: str, entries: Sequence[Entry]) -> str:
    """rl's `descriptorKey`: `domain.key_value.key...` (the value part only when the entry has one)."""
    return domain + "." + ".".join(f"{key}_{value}" if value else key for key, value in entries)


# --- one request ------------------------------------------------------------------------------------------------


class Limited(msgspec.Struct, frozen=True, kw_only=True):
    """A descriptor that counts against `rule`: add `hits` to the counter `cache_key`, which lives `ttl` seconds."""

    rule: Rule
    cache_key: str
    hits: int
    ttl: int


class Unlimited(msgspec.Struct, frozen=True, kw_only=True):
    rule: Rule


class NoRule(msgspec.Struct, frozen=True, kw_only=True):
    """No rule applies (no match, unknown domain, or a rule dropped by another's `replaces`)."""

    replaced: Rule | None = None


Planned = Limited | Unlimited | NoRule


MAX_HITS = 2**32
"""More hits than any limit allows (a limit is an unsigned 32-bit number of requests): what a larger cost counts
as, so that counters stay within what Redis holds (a signed 64-bit INCRBY) and every store counts alike."""


def plan_request(
    index: RateLimitIndex,
    domain: str,
    descriptors: Sequence[RequestDescriptor],
    *,
    now: float,
    request_hits_addend: int = 0,
    prefix: str = "",
) -> tuple[Planned, ...]:
    """What to do for each descriptor of a request, in order (rl ShouldRateLimit before the cache call)."""
    matches = [index.find(domain, descriptor) for descriptor in descriptors]
    replacing = {name for match in matches if match is not None for name in match.rule.replaces}
    default_hits = max(1, request_hits_addend)
    planned: list[Planned] = []
    for descriptor, match in zip(descriptors, matches, strict=True):
        if match is None:
            planned.append(NoRule())
        elif match.rule.unlimited:
            planned.append(Unlimited(rule=match.rule))
        elif match.rule.name and match.rule.name in replacing:
            planned.append(NoRule(replaced=match.rule))
        else:
            hits = descriptor.hits_addend if descriptor.hits_addend is not None else default_hits
            hits = min(hits, MAX_HITS)
            key = cache_key(prefix, domain, match.key_entries, match.rule.unit, now)
            planned.append(Limited(rule=match.rule, cache_key=key, hits=hits, ttl=match.rule.unit.seconds))
    return tuple(planned)


def window_start(now: float, unit: Unit) -> int:
    """Start of the fixed window that `now` falls in, aligned to the Unix epoch."""
    seconds = unit.seconds
    return int(now) // seconds * seconds


def cache_key(prefix: str, domain: str, entries: Sequence[Entry], unit: Unit, now: float) -> str:
    """rl's counter key (`GenerateCacheKey`)."""
    body = "".join(f"{key}_{value}_" for key, value in entries)
    return f"{prefix}{domain}_{body}{window_start(now, unit)}"
