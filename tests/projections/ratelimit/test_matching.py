"""Rule lookup, replaces, cache keys and decisions, on envoyproxy/ratelimit's README examples and rl's rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.ratelimit.config import MAX_UINT32, Unit, from_yaml
from projections.ratelimit.decision import Code, decide
from projections.ratelimit.matching import (
    MAX_HITS,
    Entry,
    Limited,
    LimitOverride,
    NoRule,
    RateLimitIndex,
    RequestDescriptor,
    Unlimited,
    cache_key,
    plan_request,
    window_start,
)

NOW = 1_700_000_123.7  # a Tuesday; 1_700_000_100 is its minute, 1_699_999_200 its hour


def index(*documents: str) -> RateLimitIndex:
    return RateLimitIndex(from_yaml(text, f"config{i}.yaml") for i, text in enumerate(documents))


def limit_of(loaded: RateLimitIndex, domain: str, *entries: Entry) -> tuple[int, Unit] | None:
    match = loaded.find(domain, RequestDescriptor(entries=entries))
    return None if match is None else (match.rule.requests_per_unit, match.rule.unit)


EXAMPLE_1 = """
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit: {unit: second, requests_per_unit: 500}
  - key: database
    value: default
    rate_limit: {unit: second, requests_per_unit: 500}
"""


def test_example_1_exact_values_only() -> None:
    loaded = index(EXAMPLE_1)
    assert limit_of(loaded, "mongo_cps", ("database", "users")) == (500, Unit.SECOND)
    assert limit_of(loaded, "mongo_cps", ("database", "default")) == (500, Unit.SECOND)
    assert limit_of(loaded, "mongo_cps", ("database", "other")) is None


EXAMPLE_2 = """
domain: messaging
descriptors:
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit: {unit: day, requests_per_unit: 5}
  - key: to_number
    rate_limit: {unit: day, requests_per_unit: 100}
"""


def test_example_2_value_less_keys_count_each_value_and_results_are_ored() -> None:
    loaded = index(EXAMPLE_2)
    marketing = RequestDescriptor(entries=(("message_type", "marketing"), ("to_number", "2061111111")))
    number = RequestDescriptor(entries=(("to_number", "2061111111"),))
    other_number = RequestDescriptor(entries=(("message_type", "marketing"), ("to_number", "2062222222")))
    assert limit_of(loaded, "messaging", *marketing.entries) == (5, Unit.DAY)
    assert limit_of(loaded, "messaging", *number.entries) == (100, Unit.DAY)
    assert limit_of(loaded, "messaging", ("message_type", "marketing")) is None  # a placeholder, no limit

    planned = plan_request(loaded, "messaging", [marketing, number, other_number], now=NOW)
    keys = [p.cache_key for p in planned if isinstance(p, Limited)]
    day = 1_699_920_000
    assert keys == [
        f"messaging_message_type_marketing_to_number_2061111111_{day}",
        f"messaging_to_number_2061111111_{day}",
        f"messaging_message_type_marketing_to_number_2062222222_{day}",
    ]
    decision = decide(planned, [6, 1, 1], now=NOW)  # the first is over its 5/day: the whole request is
    assert decision.overall_code is Code.OVER_LIMIT
    assert [s.code for s in decision.statuses] == [Code.OVER_LIMIT, Code.OK, Code.OK]
    assert [s.limit_remaining for s in decision.statuses] == [0, 99, 4]


EXAMPLE_3 = """
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    rate_limit: {unit: second, requests_per_unit: 10}
  - key: remote_address
    value: 50.0.0.5
    rate_limit: {unit: second, requests_per_unit: 0}
"""


def test_example_3_most_specific_match_first() -> None:
    loaded = index(EXAMPLE_3)
    assert limit_of(loaded, "edge_proxy_per_ip", ("remote_address", "50.0.0.1")) == (10, Unit.SECOND)
    assert limit_of(loaded, "edge_proxy_per_ip", ("remote_address", "50.0.0.5")) == (0, Unit.SECOND)
    planned = plan_request(
        loaded, "edge_proxy_per_ip", [RequestDescriptor(entries=(("remote_address", "50.0.0.5"),))], now=NOW
    )
    assert decide(planned, [1], now=NOW).overall_code is Code.OVER_LIMIT  # 0 per second blocks every request


EXAMPLE_4_FLAT = """
domain: example4
descriptors:
  - key: key
    value: value
    rate_limit: {requests_per_unit: 300, unit: second}
"""
EXAMPLE_4_NESTED = """
domain: example4
descriptors:
  - key: key
    value: value
    descriptors:
      - key: subkey
        rate_limit: {requests_per_unit: 300, unit: second}
"""


def test_example_4_rules_apply_only_at_the_request_depth() -> None:
    request = (("key", "value"), ("subkey", "subvalue"))
    assert limit_of(index(EXAMPLE_4_FLAT), "example4", *request) is None
    assert limit_of(index(EXAMPLE_4_NESTED), "example4", *request) == (300, Unit.SECOND)
    assert limit_of(index(EXAMPLE_4_NESTED), "example4", ("key", "value")) is None


EXAMPLE_5 = """
domain: internal
descriptors:
  - key: ldap
    rate_limit: {unlimited: true}
  - key: azure
    rate_limit: {unit: minute, requests_per_unit: 100}
"""


def test_example_5_unlimited_never_counts() -> None:
    loaded = index(EXAMPLE_5)
    planned = plan_request(
        loaded,
        "internal",
        [RequestDescriptor(entries=(("ldap", "x"),)), RequestDescriptor(entries=(("azure", "y"),))],
        now=NOW,
    )
    assert isinstance(planned[0], Unlimited)
    assert isinstance(planned[1], Limited)
    assert planned[1].cache_key == "internal_azure_y_1700000100"
    decision = decide(planned, [None, 1], now=NOW)
    assert decision.statuses[0].limit_remaining == MAX_UINT32
    assert decision.statuses[0].current_limit is None
    assert decision.statuses[0].duration_until_reset is None
    assert decision.statuses[1].limit_remaining == 99
    assert decision.statuses[1].duration_until_reset == 60 - 23


EXAMPLE_6 = """
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit: {requests_per_unit: 10, unit: second}
        shadow_mode: true
      - key: user
        value: user-b
        rate_limit: {requests_per_unit: 20, unit: second}
"""


def test_example_6_shadow_mode_counts_but_answers_ok() -> None:
    loaded = index(EXAMPLE_6)
    a = RequestDescriptor(entries=(("service", "auth-service"), ("user", "user-a")))
    b = RequestDescriptor(entries=(("service", "auth-service"), ("user", "user-b")))
    planned = plan_request(loaded, "example6", [a, b], now=NOW)
    assert all(isinstance(p, Limited) for p in planned)
    decision = decide(planned, [11, 21], now=NOW)
    assert [s.code for s in decision.statuses] == [Code.OK, Code.OVER_LIMIT]
    assert [s.over_limit for s in decision.statuses] == [True, True]
    assert decision.statuses[0].limit_remaining == 0
    only_a = decide(planned[:1], [11], now=NOW)
    assert only_a.overall_code is Code.OK


EXAMPLE_7 = """
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit: {name: specific_limit, requests_per_unit: 5, unit: second}
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces: [{name: specific_limit}]
          requests_per_unit: 10
          unit: second
"""


def test_example_7_replaces_drops_the_named_rule_for_that_request() -> None:
    loaded = index(EXAMPLE_7)
    one = RequestDescriptor(entries=(("key_1", "value_1"), ("user", "bkthomps")))
    two = RequestDescriptor(entries=(("key_2", "value_2"), ("user", "bkthomps")))
    alone = plan_request(loaded, "example7", [one], now=NOW)
    assert isinstance(alone[0], Limited)
    assert alone[0].rule.requests_per_unit == 5
    both = plan_request(loaded, "example7", [one, two], now=NOW)
    assert isinstance(both[0], NoRule)
    assert both[0].replaced is not None
    assert isinstance(both[1], Limited)
    assert both[1].rule.requests_per_unit == 10
    decision = decide(both, [None, 7], now=NOW)
    assert decision.statuses[0].current_limit is None
    assert decision.overall_code is Code.OK


WILDCARDS = """
domain: wild
descriptors:
  - key: path
    value: /api/*/users/*
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: path
    value: /api/*
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: path
    value: /api/v1
    rate_limit: {unit: minute, requests_per_unit: 3}
  - key: path
    rate_limit: {unit: minute, requests_per_unit: 4}
  - key: file
    value: top/*
    share_threshold: true
    rate_limit: {unit: hour, requests_per_unit: 5}
  - key: tenant
    value: a*
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 6}
  - key: tenant
    descriptors:
      - key: plan
        rate_limit: {unit: minute, requests_per_unit: 7}
"""


def test_wildcards_exact_first_then_config_order_then_value_less() -> None:
    loaded = index(WILDCARDS)
    assert limit_of(loaded, "wild", ("path", "/api/v1")) == (3, Unit.MINUTE)
    assert limit_of(loaded, "wild", ("path", "/api/v2/users/9")) == (1, Unit.MINUTE)  # first wildcard in order
    assert limit_of(loaded, "wild", ("path", "/api/v2")) == (2, Unit.MINUTE)
    assert limit_of(loaded, "wild", ("path", "/api/")) == (2, Unit.MINUTE)  # `*` matches nothing too
    assert limit_of(loaded, "wild", ("path", "/other")) == (4, Unit.MINUTE)
    assert limit_of(loaded, "wild", ("path", "/API/v2")) == (4, Unit.MINUTE)  # case-sensitive


def test_no_backtracking_to_the_value_less_sibling() -> None:
    loaded = index(WILDCARDS)
    assert limit_of(loaded, "wild", ("tenant", "acme"), ("user", "u1")) == (6, Unit.MINUTE)
    # tenant=acme matched `a*`, which has no `plan` child: rl does not go back to the value-less `tenant`
    assert limit_of(loaded, "wild", ("tenant", "acme"), ("plan", "gold")) is None
    assert limit_of(loaded, "wild", ("tenant", "zeta"), ("plan", "gold")) == (7, Unit.MINUTE)


def test_wildcards_count_each_value_unless_share_threshold() -> None:
    loaded = index(WILDCARDS)
    planned = plan_request(
        loaded,
        "wild",
        [
            RequestDescriptor(entries=(("path", "/api/a"),)),
            RequestDescriptor(entries=(("path", "/api/b"),)),
            RequestDescriptor(entries=(("file", "top/x"),)),
            RequestDescriptor(entries=(("file", "top/y"),)),
        ],
        now=NOW,
    )
    keys = [p.cache_key for p in planned if isinstance(p, Limited)]
    assert keys == [
        "wild_path_/api/a_1700000100",
        "wild_path_/api/b_1700000100",
        "wild_file_top/*_1699999200",
        "wild_file_top/*_1699999200",
    ]


def test_unknown_domain_and_override() -> None:
    loaded = index(EXAMPLE_1)
    override = LimitOverride(requests_per_unit=42, unit=Unit.HOUR)
    unknown = RequestDescriptor(entries=(("database", "users"),), limit=override)
    assert loaded.find("nope", unknown) is None  # an override applies only to a configured domain
    match = loaded.find("mongo_cps", RequestDescriptor(entries=(("anything", "x"), ("more", "")), limit=override))
    assert match is not None
    assert (match.rule.requests_per_unit, match.rule.unit, match.rule.shadow_mode) == (42, Unit.HOUR, False)
    assert match.rule.full_key == "mongo_cps.anything_x.more"


def test_hits_addend_precedence() -> None:
    loaded = index(EXAMPLE_5)
    azure = ("azure", "y")
    planned = plan_request(
        loaded,
        "internal",
        [
            RequestDescriptor(entries=(azure,)),
            RequestDescriptor(entries=(azure,), hits_addend=0),
            RequestDescriptor(entries=(azure,), hits_addend=9),
        ],
        now=NOW,
        request_hits_addend=3,
    )
    assert [p.hits for p in planned if isinstance(p, Limited)] == [3, 0, 9]
    default = plan_request(loaded, "internal", [RequestDescriptor(entries=(azure,))], now=NOW, request_hits_addend=0)
    assert isinstance(default[0], Limited)
    assert default[0].hits == 1
    huge = plan_request(loaded, "internal", [RequestDescriptor(entries=(azure,), hits_addend=2**64 - 1)], now=NOW)
    assert [p.hits for p in huge if isinstance(p, Limited)] == [MAX_HITS]  # more than any limit, within 64 bits


def test_quota_mode_is_over_only_when_every_quota_descriptor_is() -> None:
    loaded = index(
        """
domain: q
descriptors:
  - {key: a, quota_mode: true, rate_limit: {unit: second, requests_per_unit: 1}}
  - {key: b, quota_mode: true, rate_limit: {unit: second, requests_per_unit: 1}}
"""
    )
    planned = plan_request(
        loaded, "q", [RequestDescriptor(entries=(("a", "1"),)), RequestDescriptor(entries=(("b", "1"),))], now=NOW
    )
    assert decide(planned, [2, 1], now=NOW).overall_code is Code.OK
    assert decide(planned, [2, 2], now=NOW).overall_code is Code.OVER_LIMIT
    assert decide(planned, [2, 2], now=NOW, shadow_mode=True).overall_code is Code.OK


@given(st.floats(0, 4e9), st.sampled_from([u for u in Unit if u is not Unit.UNKNOWN]))
def test_windows_are_aligned_to_the_epoch(now: float, unit: Unit) -> None:
    start = window_start(now, unit)
    assert start % unit.seconds == 0
    assert start <= now < start + unit.seconds
    assert cache_key("p:", "d", [("k", "v")], unit, now) == f"p:d_k_v_{start}"


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 100))
def test_over_limit_iff_counter_exceeds_limit(limit: int, before: int, hits: int) -> None:
    loaded = RateLimitIndex(
        [
            from_yaml(
                f"domain: d\ndescriptors:\n- {{key: k, rate_limit: {{unit: second, requests_per_unit: {limit}}}}}", "x"
            )
        ]
    )
    planned = plan_request(loaded, "d", [RequestDescriptor(entries=(("k", "v"),), hits_addend=hits)], now=NOW)
    status = decide(planned, [before + hits], now=NOW).statuses[0]
    assert (status.code is Code.OVER_LIMIT) == (before + hits > limit)
    assert status.limit_remaining == (0 if before + hits > limit else limit - before - hits)
    assert status.duration_until_reset == 1
