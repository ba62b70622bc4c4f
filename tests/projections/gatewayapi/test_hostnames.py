from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.gatewayapi.hostnames import intersect, route_hostnames


@pytest.mark.parametrize(
    ("listener", "route", "expected"),
    [
        (None, "foo.example.com", "foo.example.com"),
        ("foo.example.com", "foo.example.com", "foo.example.com"),
        ("*.example.com", "foo.example.com", "foo.example.com"),
        ("*.example.com", "a.b.example.com", "a.b.example.com"),
        ("*.example.com", "example.com", None),
        ("foo.example.com", "*.example.com", "foo.example.com"),
        ("*.example.com", "*.foo.example.com", "*.foo.example.com"),
        ("*.foo.example.com", "*.example.com", "*.foo.example.com"),
        ("foo.example.com", "bar.example.com", None),
        ("*.example.com", "foo.example.org", None),
    ],
)
def test_intersect(listener: str | None, route: str, expected: str | None) -> None:
    assert intersect(listener, route) == expected


def test_route_without_hostnames_takes_the_listener_s() -> None:
    assert route_hostnames("*.example.com", ()) == ["*.example.com"]
    assert route_hostnames(None, ()) == ["*"]


labels = st.text(alphabet="abc", min_size=1, max_size=3)
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
hostnames = st.one_of(names, names.map(lambda n: "*." + n))


@given(hostnames, hostnames)
def test_intersection_is_symmetric(a: str, b: str) -> None:
    assert intersect(a, b) == intersect(b, a)


@given(hostnames, hostnames)
def test_intersection_is_the_narrower_name(a: str, b: str) -> None:
    found = intersect(a, b)
    if found is not None:
        assert found in (a, b)
        assert intersect(a, found) == found
        assert intersect(b, found) == found
