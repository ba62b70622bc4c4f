"""Delta streams that evaluate only the names changed since the resource set they last evaluated (given its
`Revision`) answer exactly as streams that evaluate every resource, whatever versions they skip; and a
one-resource change among 10,000 does not look at the 10,000."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from projections.xds.delta import DeltaResponse, DeltaStream
from projections.xds.history import ResourceHistory
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    VIRTUAL_HOST,
    ResourceSet,
    VersionedResource,
    diff,
)

NOW = 100.0
GROUP = "ns/gw"
NAMES: dict[str, list[str]] = {
    CLUSTER: ["c0", "c1", "c2", "c3"],
    CLUSTER_LOAD_ASSIGNMENT: ["c0", "c1", "c2", "c3"],
    LISTENER: ["l0", "l1", "l2"],
    SECRET: ["s0", "s1"],
    ROUTE_CONFIGURATION: ["r0", "r1"],
    VIRTUAL_HOST: ["r0/h0", "r0/h1", "r0/h2", "r1/h0", "r1/h1"],
}
DELTA_FORM = (ROUTE_CONFIGURATION, VIRTUAL_HOST)  # served to delta clients from `delta_by_type`
WILDCARD_TYPES = (CLUSTER, LISTENER, VIRTUAL_HOST)  # subscribed to by wildcard, as Envoy does


Spec = dict[str, dict[str, int]]
"""type URL -> name -> version."""


def resource(type_url: str, name: str, version: int) -> VersionedResource:
    eds = name if type_url == CLUSTER and version % 2 == 0 else ""  # an EDS cluster re-sends its endpoints
    return VersionedResource(name=name, version=f"v{version}", body=b"", eds_service_name=eds)


def served(spec: Spec) -> ResourceSet:
    by_type = {t: {n: resource(t, n, v) for n, v in spec[t].items()} for t in NAMES if t not in DELTA_FORM}
    delta_by_type = {t: {n: resource(t, n, v) for n, v in spec[t].items()} for t in DELTA_FORM}
    return ResourceSet(by_type={t: m for t, m in by_type.items() if m}, delta_by_type=delta_by_type)


def edited(spec: Spec, edits: list[tuple[str, int, int | None]]) -> Spec:
    """`spec` with each (type URL, name index, version) applied; version None removes the resource."""
    out = {t: dict(m) for t, m in spec.items()}
    for type_url, index, version in edits:
        name = NAMES[type_url][index % len(NAMES[type_url])]
        if version is None:
            out[type_url].pop(name, None)
        else:
            out[type_url][name] = version
    return out


type_urls = st.sampled_from(list(NAMES))
specs = st.fixed_dictionaries(
    {t: st.dictionaries(st.sampled_from(names), st.integers(0, 3), max_size=len(names)) for t, names in NAMES.items()}
)
publishes = st.lists(  # each: a few resources changed, and whether the set is recorded in the history
    st.tuples(
        st.lists(st.tuples(type_urls, st.integers(0, 4), st.none() | st.integers(0, 3)), min_size=1, max_size=3),
        st.booleans() | st.just(True),
    ),
    max_size=5,
)
requests = (type_urls | st.sampled_from(sorted(WILDCARD_TYPES))).flatmap(  # wildcard types more often
    lambda t: st.tuples(
        st.just(t),
        st.lists(st.sampled_from(["*", "*", *NAMES[t]]), max_size=3),
        st.lists(st.sampled_from(["*", "*", *NAMES[t]]), max_size=2),
    )
)
steps = st.tuples(
    publishes,
    st.none() | requests,  # a subscription change
    st.none() | st.lists(type_urls, max_size=3, unique=True),  # a reconnect (types whose names are re-subscribed)
    st.lists(st.sampled_from(["ack", "ack", "nack", "later"]), max_size=8),  # responses taken, and their answers
    st.booleans(),  # answer those left for later
    st.booleans(),  # then wait past the answer timeout
)


class Pair:
    """The same client on two streams: `full` evaluates every resource (no revision), `changed` only what
    changed since its last evaluation (the history's revision). Every response is asserted equal."""

    def __init__(self, history: ResourceHistory) -> None:
        self.history = history
        self.full = DeltaStream()
        self.changed = DeltaStream()
        self.later: list[DeltaResponse] = []  # sent, answered later
        self.client_holds: dict[str, dict[str, str]] = {t: {} for t in NAMES}
        self.now = NOW
        self.sent = 0

    def request(self, **fields: Any) -> None:
        assert self.full.apply_request(**fields) == self.changed.apply_request(**fields)

    def connect(self, resubscribed: list[str]) -> None:
        """Subscribe as Envoy does (wildcard for clusters, listeners and virtual hosts, names for the others),
        reporting what the client holds (for `resubscribed` types, subscribing to those names again too)."""
        self.full, self.changed, self.later = DeltaStream(), DeltaStream(), []
        # c2 and c3 not: when one is sent as an EDS cluster, routes wait for the client to ask for its endpoints
        subscriptions = {CLUSTER_LOAD_ASSIGNMENT: ["c0", "c1"], ROUTE_CONFIGURATION: ["r0", "r1"], SECRET: ["s0"]}
        for type_url in NAMES:
            held = self.client_holds[type_url]
            subscribe = subscriptions.get(type_url, [])
            if type_url in resubscribed:
                subscribe = sorted({*subscribe, *held})
            self.request(type_url=type_url, subscribe=subscribe, initial_versions=dict(held))

    def respond(self, latest: ResourceSet) -> DeltaResponse | None:
        full = self.full.next_response(latest, self.now)
        changed = self.changed.next_response(latest, self.now, self.history.revision_of(latest))
        assert changed == full
        assert self.changed.wake_at() == self.full.wake_at()
        if full is not None:
            self.sent += 1
            holds = self.client_holds[full.type_url]
            holds.update((r.name, r.version) for r in full.resources)
            for name in full.removed:
                holds.pop(name, None)
        return full

    def answer(self, response: DeltaResponse, *, nack: bool = False) -> None:
        error = {"has_error": True, "error_code": 3, "error_message": "rejected"} if nack else {}
        self.request(type_url=response.type_url, response_nonce=response.nonce, **error)


def only(**types: dict[str, int]) -> Spec:
    return {t: types.get(t.rsplit(".", 1)[-1], {}) for t in NAMES}


DRAIN = ["ack"] * 8


@settings(max_examples=300)
@given(specs, st.lists(steps, max_size=12))
# paths random scripts rarely take:
@example(  # a listener appears while listeners wait for the client to ask for an EDS cluster's endpoints
    only(Cluster={"c2": 1}, Listener={"l0": 0}),
    [
        ([], None, None, DRAIN, False, False),
        ([([(CLUSTER, 2, 0)], True)], None, None, DRAIN, False, False),  # c2 now reads endpoints nobody asked for
        ([([(LISTENER, 1, 0)], True)], None, None, DRAIN, False, True),  # l1 waits; then the wait times out
        ([], None, None, DRAIN, False, False),
    ],
)
@example(  # wildcard dropped, a resource changes, wildcard again: every resource is due again
    only(Cluster={"c0": 1, "c1": 1}),
    [
        ([], None, None, DRAIN, False, False),
        ([], (CLUSTER, [], ["*"]), None, DRAIN, False, False),
        ([([(CLUSTER, 1, 3)], True)], (CLUSTER, ["*"], []), None, DRAIN, False, False),
    ],
)
def test_evaluating_only_changed_names_answers_as_evaluating_everything(first: Spec, script: list[Any]) -> None:
    history = ResourceHistory(length=3)  # short, so that streams also fall further behind than it keeps
    spec = first
    latest = recorded = served(spec)
    history.record(GROUP, latest, diff(ResourceSet(), latest.delta_view()))
    pair = Pair(history)
    pair.connect([])
    for publishes_, request, reconnect, takes, answer_later, wait in script:
        for edits, recorded_in_history in publishes_:  # several publishes between two evaluations: skipped
            spec = edited(spec, edits)
            latest = served(spec)
            if recorded_in_history:  # else published by something that does not record it: no revision
                history.record(GROUP, latest, diff(recorded.delta_view(), latest.delta_view()))
                recorded = latest
        if reconnect is not None:
            pair.connect(reconnect)
        if request is not None:
            type_url, subscribe, unsubscribe = request
            pair.request(type_url=type_url, subscribe=subscribe, unsubscribe=unsubscribe)
        for take in takes:
            response = pair.respond(latest)
            if response is None:
                break
            if take == "later":
                pair.later.append(response)
            else:
                pair.answer(response, nack=take == "nack")
        if answer_later:
            for response in pair.later:
                pair.answer(response)
            pair.later = []
        if wait:
            pair.now += 6.0
    for response in pair.later:
        pair.answer(response)
    while (response := pair.respond(latest)) is not None:
        pair.answer(response)


class CountingDict(dict[str, Any]):
    """A dict that counts the keys looked at: iterated over, or looked up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.touched = 0

    def __iter__(self) -> Iterator[str]:
        for key in super().__iter__():
            self.touched += 1
            yield key

    def keys(self) -> Any:
        return list(iter(self))

    def items(self) -> Any:
        return [(key, dict.__getitem__(self, key)) for key in self]

    def values(self) -> Any:
        return [value for _, value in self.items()]

    def __getitem__(self, key: str) -> Any:
        self.touched += 1
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.touched += 1
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.touched += 1
        return super().__contains__(key)


HOSTS = 10_000


def gateway(changed_host: int = -1) -> ResourceSet:
    """A route configuration with HOSTS virtual hosts (VHDS); `changed_host` at another version."""
    hosts = {f"rc/h{i}": resource(VIRTUAL_HOST, f"rc/h{i}", 1 if i == changed_host else 0) for i in range(HOSTS)}
    return ResourceSet(
        by_type={CLUSTER: {"c": resource(CLUSTER, "c", 1)}, LISTENER: {"l": resource(LISTENER, "l", 0)}},
        delta_by_type={ROUTE_CONFIGURATION: {"rc": resource(ROUTE_CONFIGURATION, "rc", 0)}, VIRTUAL_HOST: hosts},
    )


def envoy_stream(resources: ResourceSet, history: ResourceHistory) -> DeltaStream:
    stream = DeltaStream()
    for type_url, subscribe in ((CLUSTER, []), (LISTENER, []), (ROUTE_CONFIGURATION, ["rc"]), (VIRTUAL_HOST, [])):
        stream.apply_request(type_url=type_url, subscribe=subscribe)
    while (response := stream.next_response(resources, NOW, history.revision_of(resources))) is not None:
        stream.apply_request(type_url=response.type_url, response_nonce=response.nonce)
    return stream


def counted_change(revision_known: bool) -> tuple[list[DeltaResponse], int]:
    """A stream that holds every virtual host, then one virtual host changes: what it is sent, and how many
    virtual host names it looked at (in the resource set and in what it holds) to find out."""
    history = ResourceHistory()
    before = gateway()
    history.record(GROUP, before, diff(ResourceSet(), before.delta_view()))
    stream = envoy_stream(before, history)
    after = gateway(changed_host=1234)
    changes = diff(before.delta_view(), after.delta_view())
    hosts = CountingDict(after.delta_by_type[VIRTUAL_HOST])
    after = ResourceSet(by_type=after.by_type, delta_by_type={**after.delta_by_type, VIRTUAL_HOST: hosts})
    revision = history.record(GROUP, after, changes)
    subscription = stream.subscriptions[VIRTUAL_HOST]
    held = subscription.held = CountingDict(subscription.held)
    sent = []
    while (response := stream.next_response(after, NOW, revision if revision_known else None)) is not None:
        sent.append(response)
        stream.apply_request(type_url=response.type_url, response_nonce=response.nonce)
    return sent, hosts.touched + held.touched


def test_a_one_resource_change_among_10000_looks_at_a_few_names_not_all() -> None:
    sent, touched = counted_change(revision_known=True)
    assert [(r.type_url, [x.name for x in r.resources], list(r.removed)) for r in sent] == [
        (VIRTUAL_HOST, ["rc/h1234"], [])
    ]
    assert touched < 20
    # the same without the revision: every virtual host is looked at, several times
    sent_without, touched_without = counted_change(revision_known=False)
    assert sent_without == sent
    assert touched_without > 2 * HOSTS
