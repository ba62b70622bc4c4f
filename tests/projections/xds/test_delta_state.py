"""The pure delta stream state: the spec's subscription sequences and invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.xds.delta import DeltaStream, DeltaSubscription, SentResponse
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    VIRTUAL_HOST,
    ResourceSet,
    VersionedResource,
    resource_set,
)
from tests.egd.xds.builders import cluster, endpoints, listener

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


@settings(max_examples=100, deadline=None)
@given(changes, st.sets(st.tuples(st.sampled_from("abcdef"), st.integers(min_value=1, max_value=3))))
def test_what_a_client_refuses_holds_back_nothing_else_and_is_not_sent_in_a_loop(
    published: list[dict[str, int]], refused: set[tuple[str, int]]
) -> None:
    """A client like Envoy: it refuses a response whole (NACK) when it carries a version it cannot take. Every
    version it can take reaches it; the others never do and are not sent again and again."""
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER)
    client: dict[str, str] = {}
    bad: set[str] = set()
    for version in published:
        resources = resource_set([cluster(n, connect_timeout_ms=ms) for n, ms in version.items()])
        clusters = resources.of_type(CLUSTER)
        bad |= {clusters[n].version for n, ms in refused if version.get(n) == ms}
        for _ in range(3 * len(clusters) + 2):
            response = stream.next_response(resources, NOW)
            if response is None:
                break
            if any(r.version in bad for r in response.resources):
                stream.apply_request(type_url=CLUSTER, response_nonce=response.nonce, has_error=True)
                continue
            client.update((r.name, r.version) for r in response.resources)
            for name in response.removed:
                client.pop(name, None)
            stream.apply_request(type_url=CLUSTER, response_nonce=response.nonce)
        else:
            raise AssertionError("still sending: a refused version is sent in a loop")
        for name, resource in clusters.items():
            if resource.version in bad:
                assert client.get(name) != resource.version
            else:
                assert client.get(name) == resource.version, name
        assert set(client) <= set(clusters)


def test_of_a_refused_response_of_several_each_is_sent_again_alone() -> None:
    """Envoy refuses a response whole: of [a (bad), b], b is sent again alone and taken; a alone, refused, is not
    sent again until it changes."""
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER)
    resources = resource_set([cluster("a", connect_timeout_ms=1), cluster("b", connect_timeout_ms=1)])
    first = stream.next_response(resources, NOW)
    assert first is not None and [r.name for r in first.resources] == ["a", "b"]
    stream.apply_request(type_url=CLUSTER, response_nonce=first.nonce, has_error=True)
    again = stream.next_response(resources, NOW)
    assert again is not None and [r.name for r in again.resources] == ["a"]
    stream.apply_request(type_url=CLUSTER, response_nonce=again.nonce, has_error=True)
    last = stream.next_response(resources, NOW)
    assert last is not None and [r.name for r in last.resources] == ["b"]
    stream.apply_request(type_url=CLUSTER, response_nonce=last.nonce)
    assert stream.next_response(resources, NOW) is None
    fixed = resource_set([cluster("a", connect_timeout_ms=2), cluster("b", connect_timeout_ms=1)])
    assert drain(stream, fixed) == [(CLUSTER, ["a"], [])]


def test_a_resource_forced_out_unchanged_in_a_refused_response_is_sent_again() -> None:
    """A RouteConfiguration's VirtualHosts go out with it even when unchanged (forced). When the response that
    carried them is refused because of one of them, the unchanged ones go out again too: the Envoy dropped them
    with the rest."""
    hosts = DeltaSubscription(VIRTUAL_HOST)
    hosts.update(["rc/a", "rc/b"], [], {})
    first = hosts.take_updates({"rc/a": host("rc/a", "1"), "rc/b": host("rc/b", "1")})
    assert first is not None
    hosts.acked.update((r.name, r.version) for r in first)
    hosts.force("rc/a")
    hosts.force("rc/b")
    available = {"rc/a": host("rc/a", "1"), "rc/b": host("rc/b", "2-bad")}
    both = hosts.take_updates(available)
    assert both is not None and [r.name for r in both] == ["rc/a", "rc/b"]
    hosts.refused(SentResponse(type_url=VIRTUAL_HOST, nonce="2", resources=versions_of(both), removed=()))
    again = hosts.take_updates(available)
    assert again is not None and [(r.name, r.version) for r in again] == [("rc/a", "1")]


def host(name: str, version: str) -> VersionedResource:
    return VersionedResource(name=name, version=version, body=b"")


def versions_of(resources: tuple[VersionedResource, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((r.name, r.version) for r in resources)


def refuse_alone(stream: DeltaStream, resources: ResourceSet) -> str:
    """The next response, which must carry one resource, NACKed: that resource's version."""
    response = stream.next_response(resources, NOW)
    assert response is not None and len(response.resources) == 1
    stream.apply_request(type_url=response.type_url, response_nonce=response.nonce, has_error=True)
    return response.resources[0].version


def test_a_refused_version_goes_out_again_once_the_client_took_another() -> None:
    """v1 taken, v2 refused, v3 taken: v2 again is a change for the client, which holds v3."""
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER)
    v1, v2, v3 = (resource_set([cluster("a", connect_timeout_ms=ms)]) for ms in (1, 2, 3))
    assert drain(stream, v1) == [(CLUSTER, ["a"], [])]
    refuse_alone(stream, v2)
    assert stream.next_response(v2, NOW) is None  # not in a loop
    assert drain(stream, v3) == [(CLUSTER, ["a"], [])]
    assert drain(stream, v2) == [(CLUSTER, ["a"], [])]


def test_a_refused_resource_removed_then_back_as_it_was_goes_out_again() -> None:
    """A listener refused (its port was taken), removed, then applied again unchanged (the port freed meanwhile):
    it goes out again, as a new resource would."""
    stream = DeltaStream()
    stream.apply_request(type_url=LISTENER)
    base = resource_set([listener("a", 1, "r")])
    with_b = resource_set([listener("a", 1, "r"), listener("b", 2, "r")])
    assert drain(stream, base) == [(LISTENER, ["a"], [])]
    refuse_alone(stream, with_b)
    assert drain(stream, base) == []  # the client never held b: nothing to remove
    assert drain(stream, with_b) == [(LISTENER, ["b"], [])]


def test_a_refused_name_the_client_asks_for_again_is_answered() -> None:
    """A name in `resource_names_subscribe` is answered, also one whose version the client refused before: after
    unsubscribing and subscribing again, or subscribing again."""
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER, subscribe=["a"])
    resources = resource_set([cluster("a", connect_timeout_ms=7)])
    refuse_alone(stream, resources)
    assert stream.next_response(resources, NOW) is None
    stream.apply_request(type_url=CLUSTER, unsubscribe=["a"])
    stream.apply_request(type_url=CLUSTER, subscribe=["a"])
    refuse_alone(stream, resources)
    stream.apply_request(type_url=CLUSTER, subscribe=["a"])
    assert drain(stream, resources) == [(CLUSTER, ["a"], [])]


def test_a_reconnecting_client_subscribing_to_the_endpoints_of_a_cluster_sent_meanwhile_gets_them() -> None:
    """On reconnect Envoy reports the endpoints it holds; when the cluster changed and went out before the client
    subscribed to its endpoints, they go out anyway: Envoy warms the updated cluster until endpoints arrive."""
    old = resource_set([cluster("c", connect_timeout_ms=1), endpoints("c", 80)])
    new = resource_set([cluster("c", connect_timeout_ms=2), endpoints("c", 80)])
    reported = {t: {n: r.version for n, r in old.of_type(t).items()} for t in (CLUSTER, CLUSTER_LOAD_ASSIGNMENT)}
    stream = DeltaStream()
    stream.apply_request(type_url=CLUSTER, initial_versions=reported[CLUSTER])
    cluster_update = stream.next_response(new, NOW)
    assert cluster_update is not None and [r.name for r in cluster_update.resources] == ["c"]
    stream.apply_request(
        type_url=CLUSTER_LOAD_ASSIGNMENT, subscribe=["c"], initial_versions=reported[CLUSTER_LOAD_ASSIGNMENT]
    )
    stream.apply_request(type_url=CLUSTER, response_nonce=cluster_update.nonce)
    assert drain(stream, new) == [(CLUSTER_LOAD_ASSIGNMENT, ["c"], [])]


def test_a_refused_version_goes_out_again_after_the_resource_went_back_to_what_the_client_holds() -> None:
    """v1 taken, v2 refused, back to v1 (nothing to send: the client holds it), then v2 again (its cause gone
    meanwhile, say): v2 goes out."""
    stream = DeltaStream()
    stream.apply_request(type_url=LISTENER)
    v1 = resource_set([listener("a", 1, "r")])
    v2 = resource_set([listener("a", 2, "r")])
    assert drain(stream, v1) == [(LISTENER, ["a"], [])]
    refuse_alone(stream, v2)
    assert drain(stream, v1) == []
    assert drain(stream, v2) == [(LISTENER, ["a"], [])]
