"""The pure delta stream state: the spec's subscription sequences and invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.xds.delta import DeltaStream
from projections.xds.resources import CLUSTER, LISTENER, ResourceSet, resource_set
from tests.egd.xds.builders import cluster, listener

NOW = 100.0


def drain(stream: DeltaStream, resources: ResourceSet) -> list[tuple[str, list[str], list[str]]]:
    """Every response due, ACKing each at once (as Envoy does)."""
    sent = []
    while (response := stream.next_response(resources, NOW)) is not None:
        sent.append((response.type_url, [r.name for r in response.resources], list(response.removed)))
        stream.apply_request(type_url=response.type_url, response_nonce=response.nonce)
    return sent


def test_the_spec_incremental_wildcard_sequence() -> None:
    resources = resource_set([listener("a", 1, "r"), listener("b", 2, "r")])
    stream = DeltaStream()
    stream.apply_request(type_url=LISTENER)  # 1. empty request: `*`
    assert drain(stream, resources) == [(LISTENER, ["a", "b"], [])]
    stream.apply_request(type_url=LISTENER, subscribe=["a"])  # 2. `*` + a (a answered again)
    assert drain(stream, resources) == [(LISTENER, ["a"], [])]
    stream.apply_request(type_url=LISTENER, unsubscribe=["*"])  # 3. a only
    assert drain(stream, resources) == []
    assert drain(stream, resource_set([listener("a", 1, "r"), listener("b", 3, "r")])) == []  # b not wanted
    stream.apply_request(type_url=LISTENER, unsubscribe=["a"])  # 4. nothing, and NOT wildcard
    assert drain(stream, resource_set([listener("a", 9, "r"), listener("c", 3, "r")])) == []
    assert not stream.subscriptions[LISTENER].wildcard


changes = st.lists(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(min_value=1, max_value=3), max_size=6),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(changes, st.lists(st.sampled_from("abcdefg*"), max_size=4))
def test_the_client_ends_up_holding_exactly_what_is_wanted_and_no_response_repeats_a_name(
    published: list[dict[str, int]], explicit: list[str]
) -> None:
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER, subscribe=explicit)
    held: dict[str, str] = {}
    for version in published:
        resources = resource_set([cluster(n, connect_timeout_ms=ms) for n, ms in version.items()])
        while (response := stream.next_response(resources, NOW)) is not None:
            sent = [r.name for r in response.resources] + list(response.removed)
            assert len(sent) == len(set(sent))
            for r in response.resources:
                held[r.name] = r.version
            for name in response.removed:
                held.pop(name, None)
            stream.apply_request(type_url=CLUSTER, response_nonce=response.nonce)
        wanted = {
            n: r.version
            for n, r in resources.of_type(CLUSTER).items()
            if "*" in explicit or not explicit or n in explicit
        }
        assert held == wanted


def test_a_reconnecting_client_holds_what_it_reports_and_is_sent_only_what_differs() -> None:
    old = resource_set([cluster("a"), cluster("b"), cluster("gone")])
    new = resource_set([cluster("a"), cluster("b", connect_timeout_ms=9), cluster("c")])
    stream = DeltaStream()
    stream.apply_request(
        type_url=CLUSTER, initial_versions={name: r.version for name, r in old.of_type(CLUSTER).items()}
    )
    assert stream.subscriptions[CLUSTER].acked == {n: r.version for n, r in old.of_type(CLUSTER).items()}
    assert drain(stream, new) == [(CLUSTER, ["b", "c"], []), (CLUSTER, [], ["gone"])]
    assert stream.subscriptions[CLUSTER].acked == {n: r.version for n, r in new.of_type(CLUSTER).items()}
