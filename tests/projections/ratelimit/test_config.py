"""The rl config model: rl's load errors, protobuf and YAML round trips."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2
from hypothesis import given
from hypothesis import strategies as st

from projections.errors import RateLimitConfigError
from projections.ratelimit import rls_conf_pb2
from projections.ratelimit.config import (
    TYPE_URL,
    Descriptor,
    RateLimitConfig,
    RateLimitPolicy,
    Unit,
    from_proto,
    from_yaml,
    to_proto,
    to_yaml,
)
from projections.ratelimit.matching import RateLimitIndex

MINUTE_5 = RateLimitPolicy(unit=Unit.MINUTE, requests_per_unit=5)


def config(*descriptors: Descriptor, domain: str = "d") -> RateLimitConfig:
    return RateLimitConfig(name="cfg", domain=domain, descriptors=descriptors)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: config(domain=""), "rate limit config 'cfg': config file cannot have empty domain"),
        (
            lambda: config(Descriptor(key="a", descriptors=(Descriptor(key=""),))),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].descriptors[0]: descriptor has empty key",
        ),
        (
            lambda: config(Descriptor(key="a", value="b"), Descriptor(key="a", value="b")),
            "rate limit config 'cfg' (domain 'd'): descriptors[1]: duplicate descriptor composite key 'd.a_b'",
        ),
        (
            # rl's composite keys collide although key and value differ: a_b + c == a + b_c
            lambda: config(Descriptor(key="a_b", value="c"), Descriptor(key="a", value="b_c")),
            "rate limit config 'cfg' (domain 'd'): descriptors[1]: duplicate descriptor composite key 'd.a_b_c'",
        ),
        (
            lambda: config(Descriptor(key="a", rate_limit=RateLimitPolicy(requests_per_unit=5))),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].rate_limit: invalid rate limit unit ''",
        ),
        (
            lambda: config(Descriptor(key="a", rate_limit=RateLimitPolicy(unit=Unit.SECOND, unlimited=True))),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].rate_limit: "
            "should not specify rate limit unit when unlimited",
        ),
        (
            lambda: config(
                Descriptor(key="a", rate_limit=RateLimitPolicy(unit=Unit.SECOND, requests_per_unit=1, replaces=("",)))
            ),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].rate_limit: should not have an empty replaces entry",
        ),
        (
            lambda: config(
                Descriptor(
                    key="a",
                    rate_limit=RateLimitPolicy(unit=Unit.SECOND, requests_per_unit=1, name="n", replaces=("n",)),
                )
            ),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].rate_limit: "
            "replaces should not contain name of same descriptor",
        ),
        (
            lambda: config(Descriptor(key="a", value="b", share_threshold=True, rate_limit=MINUTE_5)),
            "rate limit config 'cfg' (domain 'd'): descriptors[0]: "
            "share_threshold can only be used with wildcard values",
        ),
        (
            lambda: config(Descriptor(key="a", rate_limit=RateLimitPolicy(unit=Unit.DAY, requests_per_unit=2**32))),
            "rate limit config 'cfg' (domain 'd'): descriptors[0].rate_limit: "
            "requests_per_unit 4294967296 is not a uint32",
        ),
    ],
)
def test_load_errors_reject_the_whole_config(build: object, message: str) -> None:
    with pytest.raises(RateLimitConfigError) as caught:
        build()  # type: ignore[operator]
    assert str(caught.value) == message


def test_duplicate_domain_is_refused_unless_merged() -> None:
    first = config(Descriptor(key="a", rate_limit=MINUTE_5))
    second = RateLimitConfig(name="other", domain="d", descriptors=(Descriptor(key="b", rate_limit=MINUTE_5),))
    with pytest.raises(RateLimitConfigError, match="duplicate domain 'd' in config file"):
        RateLimitIndex([first, second])
    merged = RateLimitIndex([first, second], merge_domains=True)
    assert merged.domains == {"d"}
    clash = RateLimitConfig(name="third", domain="d", descriptors=(Descriptor(key="a", rate_limit=MINUTE_5),))
    with pytest.raises(RateLimitConfigError, match=r"duplicate descriptor composite key 'd\.a'"):
        RateLimitIndex([first, clash], merge_domains=True)


def test_unlimited_without_unit_and_a_leaf_without_limit_are_valid() -> None:
    loaded = config(
        Descriptor(key="ldap", rate_limit=RateLimitPolicy(unlimited=True)),
        Descriptor(key="whitelisted", value="x"),
    )
    assert [d.key for d in loaded.descriptors] == ["ldap", "whitelisted"]


EXAMPLE = """\
domain: messaging
descriptors:
- key: message_type
  value: marketing
  descriptors:
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 5
    shadow_mode: true
- key: to_number
  rate_limit:
    name: per_number
    replaces:
    - name: other
    unit: week
    requests_per_unit: 100
  detailed_metric: true
- key: files
  value: top/*/x*
  rate_limit:
    unit: year
    requests_per_unit: 3
  share_threshold: true
- key: ldap
  rate_limit:
    unlimited: true
"""


def test_yaml_round_trip_is_byte_stable() -> None:
    loaded = from_yaml(EXAMPLE, "example.yaml")
    assert loaded.domain == "messaging"
    assert loaded.descriptors[1].rate_limit == RateLimitPolicy(
        unit=Unit.WEEK, requests_per_unit=100, name="per_number", replaces=("other",)
    )
    assert to_yaml(loaded) == EXAMPLE
    assert from_yaml(to_yaml(loaded), "example.yaml") == loaded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("domain: d\nfoo: 1\n", "rate limit config 'x.yaml': config error, unknown key 'foo'"),
        (
            "domain: d\ndescriptors:\n- key: a\n  rate_limit: {unit: second, requests_per_unit: 1, burst: 2}\n",
            "rate limit config 'x.yaml': descriptors[0].rate_limit: config error, unknown key 'burst'",
        ),
        (
            "domain: d\ndescriptors:\n- key: a\n  rate_limit: {unit: fortnight, requests_per_unit: 1}\n",
            "rate limit config 'x.yaml' (domain 'd'): descriptors[0].rate_limit: invalid rate limit unit 'fortnight'",
        ),
        (
            "domain: d\ndescriptors: [a]\n",
            "rate limit config 'x.yaml': descriptors[0]: "
            "config error, yaml file contains list of type other than map: a",
        ),
        ("descriptors: []\n", "rate limit config 'x.yaml': config file cannot have empty domain"),
        ("domain: [\n", None),
    ],
)
def test_yaml_load_errors(text: str, message: str | None) -> None:
    with pytest.raises(RateLimitConfigError) as caught:
        from_yaml(text, "x.yaml")
    if message is None:
        assert "error loading config file" in str(caught.value)
    else:
        assert str(caught.value) == message


def test_yaml_unlimited_ignores_an_invalid_unit_like_rl_and_accepts_metadata() -> None:
    loaded = from_yaml(
        "domain: d\ndescriptors:\n- key: a\n  metadata: {team: x}\n  rate_limit: {unlimited: true, unit: bogus}\n", "x"
    )
    assert loaded.descriptors[0].rate_limit == RateLimitPolicy(unlimited=True)


def test_protobuf_round_trip_and_type_url() -> None:
    loaded = from_yaml(EXAMPLE, "example.yaml")
    message = to_proto(loaded)
    packed = any_pb2.Any()
    packed.Pack(message)
    assert packed.type_url == TYPE_URL
    decoded = rls_conf_pb2.RateLimitConfig.FromString(packed.value)
    assert decoded.descriptors[1].rate_limit.unit == rls_conf_pb2.WEEK
    assert decoded.descriptors[0].descriptors[0].shadow_mode
    assert decoded.descriptors[3].rate_limit.unlimited
    assert decoded.descriptors[3].rate_limit.unit == rls_conf_pb2.UNKNOWN
    # share_threshold and value_to_metric have no protobuf field
    expected = RateLimitConfig(
        name=loaded.name,
        domain=loaded.domain,
        descriptors=tuple(
            Descriptor(**{**{f: getattr(d, f) for f in d.__struct_fields__}, "share_threshold": False})
            for d in loaded.descriptors
        ),
    )
    assert from_proto(decoded) == expected


def test_an_invalid_protobuf_is_rejected_as_rl_would_nack_it() -> None:
    message = rls_conf_pb2.RateLimitConfig(
        name="n",
        domain="d",
        descriptors=[rls_conf_pb2.RateLimitDescriptor(key="a", rate_limit=rls_conf_pb2.RateLimitPolicy(unit=99))],
    )
    with pytest.raises(RateLimitConfigError, match="invalid rate limit unit"):
        from_proto(message)


keys = st.text(alphabet="abcxyz-.", min_size=1, max_size=6)
units = st.sampled_from([u for u in Unit if u is not Unit.UNKNOWN])


@st.composite
def descriptor_trees(draw: st.DrawFn, depth: int = 0) -> tuple[Descriptor, ...]:
    out: dict[str, Descriptor] = {}
    for _ in range(draw(st.integers(0, 3 if depth < 2 else 0))):
        limited = draw(st.booleans())
        descriptor = Descriptor(
            key=draw(keys),
            value=draw(st.one_of(st.just(""), keys)),
            rate_limit=RateLimitPolicy(unit=draw(units), requests_per_unit=draw(st.integers(0, 2**32 - 1)))
            if limited
            else None,
            shadow_mode=draw(st.booleans()),
            quota_mode=draw(st.booleans()),
            detailed_metric=draw(st.booleans()),
            descriptors=draw(descriptor_trees(depth + 1)),
        )
        out.setdefault(descriptor.composite_key, descriptor)
    return tuple(out.values())


@given(descriptor_trees())
def test_protobuf_and_yaml_round_trips(descriptors: tuple[Descriptor, ...]) -> None:
    loaded = RateLimitConfig(name="n", domain="dom", descriptors=descriptors)
    assert from_proto(rls_conf_pb2.RateLimitConfig.FromString(to_proto(loaded).SerializeToString())) == loaded
    assert from_yaml(to_yaml(loaded), "n") == loaded
