"""IR rate limits -> the descriptors Envoy sends and envoyproxy/ratelimit's configs that answer them.

One rate-limit rule of a route is one descriptor: an ordered list of entries, each produced by one Envoy rate
limit action. `rule_entries` is the single plan both sides read: the xDS projection turns each entry into a
route action, and `RateLimitProjection` turns the same entries into a chain of nested rl descriptors whose last
level holds the limit. So what Envoy sends matches exactly what rl (or egd's own service) looks up.

    entry 1   generic_key    `<route name>` = `<policy>/rule-<i>`   (`shared` rules: `shared` = `<policy>/rule-<i>`)
    headers   header_value_match `header-<j>` = `matched` (Exact, RegularExpression; invert: expect no match)
              request_headers    `header-<j>` = the header's value (Distinct: one counter per value)
    methods   header_value_match `method` = `matched` on `:method` (any of them), `method-not` for inverted ones
    path      header_value_match `path` = `matched` on `:path`
    source    masked_remote_address = the CIDR (`10.0.0.0/8`); Distinct adds remote_address = the client address

Domains: one per Gateway (`<namespace>/<name>`), the domain its HTTP ratelimit filters send. Names never depend
on positions in a list other than the rule's index in its policy, so a policy change touches its own
descriptors only. The projection is incremental: each (route, rate limit) piece is built once and cached by the
IR route's content; a domain's config is reassembled from its cached pieces when one of them changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from projections import ir
from projections.ratelimit.config import Descriptor, RateLimitConfig, RateLimitPolicy, Unit

UNITS = {
    "Second": Unit.SECOND,
    "Minute": Unit.MINUTE,
    "Hour": Unit.HOUR,
    "Day": Unit.DAY,
    "Month": Unit.MONTH,
    "Year": Unit.YEAR,
}
MATCHED = "matched"


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One descriptor entry and the action that produces it. `value` None: the request's value (distinct)."""

    key: str
    value: str | None
    action: str  # generic_key, header_value_match, request_headers, masked_remote_address, remote_address
    header: str = ""  # the header an action reads (`:method`, `:path` for those)
    match_type: str = "Exact"  # Exact, PathPrefix, RegularExpression (header_value_match)
    match_value: str = ""
    expect_match: bool = True
    prefix_length: int = 0  # masked_remote_address
    ipv6: bool = False


def rule_key(route: ir.HTTPRoute, limit: ir.RateLimit, rule: ir.RateLimitRule) -> tuple[str, str]:
    """The first entry of a rule's descriptor: unique per route and rule, or per policy rule when shared."""
    value = f"{limit.policy}/rule-{rule.index}"
    return ("shared" if rule.shared else route.name, value)


def rule_entries(route: ir.HTTPRoute, limit: ir.RateLimit, rule: ir.RateLimitRule) -> tuple[Entry, ...]:
    key, value = rule_key(route, limit, rule)
    entries = [Entry(key=key, value=value, action="generic_key")]
    for j, header in enumerate(rule.headers):
        name = f"header-{j}"
        if header.type == "Distinct":
            entries.append(Entry(key=name, value=None, action="request_headers", header=header.name))
        else:
            entries.append(
                Entry(
                    key=name,
                    value=MATCHED,
                    action="header_value_match",
                    header=header.name,
                    match_type=header.type,
                    match_value=header.value,
                    expect_match=not header.invert,
                )
            )
    for name, methods, expect in (("method", rule.methods, True), ("method-not", rule.methods_invert, False)):
        if methods:
            entries.append(
                Entry(
                    key=name,
                    value=MATCHED,
                    action="header_value_match",
                    header=":method",
                    match_type="RegularExpression",
                    match_value=f"^({'|'.join(sorted(set(methods)))})$",
                    expect_match=expect,
                )
            )
    if rule.path is not None:
        entries.append(
            Entry(
                key="path",
                value=MATCHED,
                action="header_value_match",
                header=":path",
                match_type=rule.path.type,
                match_value=rule.path.value,
                expect_match=not rule.path_invert,
            )
        )
    if rule.source is not None:
        address, _, length = rule.source.cidr.partition("/")
        entries.append(
            Entry(
                key="masked_remote_address",
                value=rule.source.cidr,
                action="masked_remote_address",
                prefix_length=int(length),
                ipv6=":" in address,
            )
        )
        if rule.source.distinct:
            entries.append(Entry(key="remote_address", value=None, action="remote_address"))
    return tuple(entries)


def rule_descriptor(route: ir.HTTPRoute, limit: ir.RateLimit, rule: ir.RateLimitRule) -> Descriptor:
    """The nested rl descriptor that answers the rule's request descriptor: one level per entry."""
    entries = rule_entries(route, limit, rule)
    policy = RateLimitPolicy(unit=UNITS[rule.unit], requests_per_unit=rule.requests)
    last = entries[-1]
    node = Descriptor(key=last.key, value=last.value or "", rate_limit=policy, shadow_mode=rule.shadow_mode)
    for entry in reversed(entries[:-1]):
        node = Descriptor(key=entry.key, value=entry.value or "", descriptors=(node,))
    return node


def route_descriptors(route: ir.HTTPRoute) -> tuple[Descriptor, ...]:
    """The top-level descriptors of one route's global rate limit (none for local or no limit)."""
    limit = route.rate_limit
    if limit is None or limit.type != "Global":
        return ()
    return tuple(rule_descriptor(route, limit, rule) for rule in limit.rules)


def config_name(domain: str) -> str:
    return domain


class RateLimitProjection:
    """GatewayIR -> the RateLimitConfig of its domain, rebuilt from cached per-route pieces."""

    def __init__(self) -> None:
        self._pieces: dict[str, dict[str, tuple[Descriptor, ...]]] = {}  # domain -> route hash -> descriptors
        self._configs: dict[str, RateLimitConfig] = {}

    @property
    def configs(self) -> dict[str, RateLimitConfig]:
        """Every domain's config (domains without global limits have none), by domain."""
        return dict(sorted(self._configs.items()))

    def apply(self, gateway: ir.GatewayIR) -> bool:
        """Fold in a Gateway's new IR; whether its config changed."""
        previous = self._pieces.get(gateway.name, {})
        pieces: dict[str, tuple[Descriptor, ...]] = {}
        for listener in gateway.http:
            if "Global" not in listener.rate_limit_types:
                continue
            for virtual_host in listener.virtual_hosts:
                if "Global" not in virtual_host.rate_limit_types:
                    continue
                for route in virtual_host.routes:
                    if route.hash not in pieces:
                        cached = previous.get(route.hash)
                        pieces[route.hash] = cached if cached is not None else route_descriptors(route)
        if pieces.keys() == previous.keys() and gateway.name in self._configs:
            return False
        self._pieces[gateway.name] = pieces
        return self._set(gateway.name, pieces.values())

    def remove(self, gateway: str) -> bool:
        self._pieces.pop(gateway, None)
        return self._configs.pop(gateway, None) is not None

    def _set(self, domain: str, pieces: Iterable[tuple[Descriptor, ...]]) -> bool:
        merged: dict[str, Descriptor] = {}
        for descriptors in pieces:
            for descriptor in descriptors:
                merged.setdefault(f"{descriptor.key}\0{descriptor.value}", descriptor)
        if not merged:
            return self._configs.pop(domain, None) is not None
        config = RateLimitConfig(
            name=config_name(domain), domain=domain, descriptors=tuple(merged[k] for k in sorted(merged))
        )
        if self._configs.get(domain) == config:
            return False
        self._configs[domain] = config
        return True


def project(gateways: Mapping[str, ir.GatewayIR]) -> dict[str, RateLimitConfig]:
    """The configs of `gateways` from scratch (what the incremental projection must always equal)."""
    projection = RateLimitProjection()
    for gateway in gateways.values():
        projection.apply(gateway)
    return projection.configs
