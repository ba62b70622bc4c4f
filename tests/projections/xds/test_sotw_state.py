"""The pure state-of-the-world stream state against a model of Envoy's SotW client (hypothesis), and the cases
the partial-state types (route configurations, endpoints) must get right one by one."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    ROUTE_CONFIGURATION,
    ResourceSet,
    VersionedResource,
)
from projections.xds.sotw import SotwResponse, SotwStream

Versions = dict[str, int]


def resources(clusters: Versions, endpoints: Versions, routes: Versions) -> ResourceSet:
    """Clusters (EDS, each reading the endpoints of its own name), endpoints and route configurations, each
    name at a version `<name>v<n>`."""

    def made(type_url: str, name: str, version: int) -> VersionedResource:
        eds = name if type_url == CLUSTER else ""
        return VersionedResource(name=name, version=f"{name}v{version}", body=b"", eds_service_name=eds)

    by_type = {
        type_url: {name: made(type_url, name, version) for name, version in versions.items()}
        for type_url, versions in (
            (CLUSTER, clusters),
            (CLUSTER_LOAD_ASSIGNMENT, endpoints),
            (ROUTE_CONFIGURATION, routes),
        )
        if versions
    }
    return ResourceSet(by_type=by_type)


@dataclass
class EnvoyModel:
    """What Envoy's SotW client does: clusters by wildcard (a response is the whole set; a refused version keeps
    the one held), endpoints by the names of the clusters it holds, route configurations by the names the test
    picks. A response of endpoints or routes is applied watch by watch, in Envoy's own order, up to the first
    refused version (then NACKed). A cluster changed or added warms until its endpoints arrive."""

    rng: random.Random
    refuses: set[str]  # versions
    holds: dict[str, dict[str, str]] = field(
        default_factory=lambda: {CLUSTER: {}, CLUSTER_LOAD_ASSIGNMENT: {}, ROUTE_CONFIGURATION: {}}
    )
    route_names: list[str] = field(default_factory=list)
    warming: set[str] = field(default_factory=set)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    last_nonce: dict[str, str] = field(default_factory=dict)

    def names(self, type_url: str) -> list[str]:
        if type_url == CLUSTER:
            return []
        if type_url == CLUSTER_LOAD_ASSIGNMENT:
            return sorted(self.holds[CLUSTER])
        return sorted(self.route_names)

    def ask(self, type_url: str, *, has_error: bool = False) -> None:
        self.outbox.append(
            {
                "type_url": type_url,
                "resource_names": self.names(type_url),
                "response_nonce": self.last_nonce.get(type_url, ""),
                "has_error": has_error,
            }
        )

    def receive(self, response: SotwResponse) -> None:
        type_url = response.type_url
        self.last_nonce[type_url] = response.nonce
        watched_endpoints = self.names(CLUSTER_LOAD_ASSIGNMENT)
        refused = False
        if type_url == CLUSTER:
            held = self.holds[CLUSTER]
            now: dict[str, str] = {}
            for resource in response.resources:
                if resource.version in self.refuses:
                    refused = True
                    if resource.name in held:
                        now[resource.name] = held[resource.name]
                    continue
                if held.get(resource.name) != resource.version:
                    self.warming.add(resource.name)
                now[resource.name] = resource.version
            self.warming &= set(now)
            self.holds[CLUSTER] = now
        else:
            watched = set(self.names(type_url))
            order = [r for r in response.resources if r.name in watched]
            self.rng.shuffle(order)
            for resource in order:
                if resource.version in self.refuses:
                    refused = True
                    break
                self.holds[type_url][resource.name] = resource.version
                if type_url == CLUSTER_LOAD_ASSIGNMENT:
                    self.warming.discard(resource.name)
        self.ask(type_url, has_error=refused)
        if type_url == CLUSTER and self.names(CLUSTER_LOAD_ASSIGNMENT) != watched_endpoints:
            self.ask(CLUSTER_LOAD_ASSIGNMENT)


def run(operations: list[tuple[Any, ...]], seed: int, refuses: set[str]) -> tuple[EnvoyModel, ResourceSet]:
    """Play `operations` (publish a resource set, pick route names, deliver a request, let the stream send one
    response, let 10 s pass), then let everything be answered; what the client holds, and the last set."""
    stream = SotwStream(answer_timeout=5.0)
    envoy = EnvoyModel(rng=random.Random(seed), refuses=refuses)
    now = 0.0
    current = resources({}, {}, {})
    envoy.ask(CLUSTER)
    envoy.ask(ROUTE_CONFIGURATION)

    def deliver() -> None:
        if envoy.outbox:
            stream.apply_request(**envoy.outbox.pop(0))

    def send() -> bool:
        response = stream.next_response(current, now)
        if response is not None:
            envoy.receive(response)
        return response is not None

    for operation in operations:
        match operation:
            case ("publish", versions):
                current = resources(*versions)
            case ("routes", names):
                envoy.route_names = names
                envoy.ask(ROUTE_CONFIGURATION)
            case ("deliver",):
                deliver()
            case ("send",):
                send()
            case ("wait",):
                now += 10.0
    for _ in range(10_000):
        while envoy.outbox:
            deliver()
        if not send() and not envoy.outbox:
            now += 10.0  # any wait for an answer expires
            if not send() and not envoy.outbox:
                return envoy, current
    raise AssertionError("the stream never went quiet: a response sent in a loop")


NAMES = st.sampled_from("abcd")
VERSIONS = st.dictionaries(NAMES, st.integers(1, 3), max_size=4)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.tuples(VERSIONS, VERSIONS, VERSIONS)),
        st.tuples(st.just("routes"), st.lists(NAMES, unique=True, max_size=4)),
        st.tuples(st.just("deliver")),
        st.tuples(st.just("send")),
        st.tuples(st.just("wait")),
    ),
    max_size=25,
)
REFUSED = st.sets(st.sampled_from([f"{n}v{v}" for n in "abcd" for v in (2, 3)]), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(OPERATIONS, st.integers(0, 1000), REFUSED)
def test_an_envoy_ends_up_holding_every_version_it_can_take_and_warms_no_cluster_for_good(
    operations: list[tuple[Any, ...]], seed: int, refuses: set[str]
) -> None:
    """Whatever the order of changes, requests, refusals and answer timeouts: once quiet, the client holds the
    current version of every endpoint set and route configuration it watches (unless it refuses that version),
    no cluster waits for endpoints it could take, and nothing is sent in a loop."""
    envoy, current = run(operations, seed, refuses)
    for type_url in (CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION):
        for name in envoy.names(type_url):
            resource = current.of_type(type_url).get(name)
            if resource is not None and resource.version not in refuses:
                assert envoy.holds[type_url].get(name) == resource.version, (type_url, name)
    for name in envoy.warming:
        endpoints = current.of_type(CLUSTER_LOAD_ASSIGNMENT).get(name)
        assert endpoints is None or endpoints.version in refuses, name


def answer(stream: SotwStream, response: SotwResponse, names: list[str], *, refused: bool = False) -> None:
    stream.apply_request(
        type_url=response.type_url, resource_names=names, response_nonce=response.nonce, has_error=refused
    )


def test_endpoints_refused_alone_do_not_go_out_again_with_every_cluster_response() -> None:
    """After a Cluster response every endpoint set goes out again (cluster warming), but not a version the
    client refused alone: with it, the response would be refused whole and each set sent again alone."""
    names = [f"c{i}" for i in range(50)]
    stream = SotwStream()
    stream.apply_request(type_url=CLUSTER)
    stream.apply_request(type_url=CLUSTER_LOAD_ASSIGNMENT, resource_names=names)
    one = dict.fromkeys(names, 1)

    def drain(current: ResourceSet, refuses: str = "") -> list[tuple[str, int]]:
        sent = []
        while (response := stream.next_response(current, 0.0)) is not None:
            sent.append((response.type_url, len(response.resources)))
            refused = any(r.version == refuses for r in response.resources)
            answer(stream, response, names if response.type_url == CLUSTER_LOAD_ASSIGNMENT else [], refused=refused)
        return sent

    drain(resources(one, one, {}))
    assert drain(resources(one, {**one, "c0": 2}, {}), refuses="c0v2") == [(CLUSTER_LOAD_ASSIGNMENT, 1)]
    assert drain(resources({**one, "c9": 2}, {**one, "c0": 2}, {}), refuses="c0v2") == [
        (CLUSTER, 50),
        (CLUSTER_LOAD_ASSIGNMENT, 49),
    ]


def test_a_refusal_answered_after_the_answer_timeout_still_tells_what_the_client_kept() -> None:
    """Route configurations [a, b] refused (Envoy stopped at a, so b was not applied), the NACK arriving after
    the stream went on: a and b go out again, each alone."""
    stream = SotwStream(answer_timeout=5.0)
    names = ["a", "b", "c"]
    stream.apply_request(type_url=ROUTE_CONFIGURATION, resource_names=names)
    first = stream.next_response(resources({}, {}, {"a": 1, "b": 1, "c": 1}), 0.0)
    assert first is not None
    answer(stream, first, names)
    both = stream.next_response(resources({}, {}, {"a": 2, "b": 2, "c": 1}), 1.0)
    assert both is not None and [r.name for r in both.resources] == ["a", "b"]
    current = resources({}, {}, {"a": 2, "b": 2, "c": 2})
    after_timeout = stream.next_response(current, 7.0)
    assert after_timeout is not None and [r.name for r in after_timeout.resources] == ["c"]
    answer(stream, both, names, refused=True)  # late: stale, yet a refusal
    answer(stream, after_timeout, names)
    again = []
    while (response := stream.next_response(current, 20.0)) is not None:
        again.append([r.name for r in response.resources])
        answer(stream, response, names)
    assert again == [["a"], ["b"]]


def test_endpoints_by_wildcard_keep_going_out_after_a_cluster_response_during_an_isolation() -> None:
    """A client subscribed to endpoints by `*` (not Envoy, a gRPC client): a Cluster response while refused
    endpoints are being sent again one by one still makes every endpoint set go out."""
    stream = SotwStream()
    stream.apply_request(type_url=CLUSTER)
    stream.apply_request(type_url=CLUSTER_LOAD_ASSIGNMENT, resource_names=["*"])

    def names(response: SotwResponse) -> list[str]:
        return ["*"] if response.type_url == CLUSTER_LOAD_ASSIGNMENT else []

    current = resources({"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 1, "c": 1}, {})
    while (response := stream.next_response(current, 0.0)) is not None:
        answer(stream, response, names(response))
    current = resources({"a": 1, "b": 1, "c": 1}, {"a": 2, "b": 2, "c": 1}, {})
    both = stream.next_response(current, 0.0)
    assert both is not None and len(both.resources) == 2
    answer(stream, both, names(both), refused=True)
    current = resources({"a": 1, "b": 1, "c": 2}, {"a": 2, "b": 2, "c": 1}, {})
    clusters = stream.next_response(current, 0.0)
    assert clusters is not None and clusters.type_url == CLUSTER
    answer(stream, clusters, [])
    sent: set[str] = set()
    while (response := stream.next_response(current, 0.0)) is not None:
        sent.update(r.name for r in response.resources)
        answer(stream, response, names(response))
    assert "c" in sent  # the updated cluster's endpoints: it would warm until the client's timeout
