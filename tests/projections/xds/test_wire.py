"""The hand-written wire format parses back, field for field, with the real xds-protos classes."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2
from hypothesis import given
from hypothesis import strategies as st

from projections.xds.resources import CLUSTER, versioned
from projections.xds.wire import encode_delta_response, encode_sotw_response

names = st.text(min_size=1, max_size=300)
texts = st.text(max_size=300)


@st.composite
def clusters(draw: st.DrawFn) -> list[cluster_pb2.Cluster]:
    chosen = draw(st.lists(names, unique=True, max_size=5))
    padding = draw(st.integers(min_value=0, max_value=20_000))
    found = []
    for name in chosen:
        message = cluster_pb2.Cluster(name=name)
        message.metadata.filter_metadata["p"].update({"pad": "x" * padding})
        found.append(message)
    return found


@given(clusters(), st.lists(names, max_size=5), texts, texts, texts)
def test_delta_response_round_trip(
    messages: list[cluster_pb2.Cluster], removed: list[str], nonce: str, version: str, control_plane: str
) -> None:
    resources = [versioned(m) for m in messages]
    data = encode_delta_response(
        type_url=CLUSTER,
        nonce=nonce,
        resources=resources,
        removed=removed,
        system_version_info=version,
        control_plane=control_plane,
    )
    parsed = discovery_pb2.DeltaDiscoveryResponse.FromString(data)
    assert (parsed.type_url, parsed.nonce, parsed.system_version_info) == (CLUSTER, nonce, version)
    assert parsed.control_plane.identifier == control_plane
    assert list(parsed.removed_resources) == removed
    assert [(r.name, r.version) for r in parsed.resources] == [(r.name, r.version) for r in resources]
    for packed, message in zip(parsed.resources, messages, strict=True):
        assert packed.resource.type_url == CLUSTER
        assert cluster_pb2.Cluster.FromString(packed.resource.value) == message


@given(clusters(), texts, texts)
def test_sotw_response_round_trip(messages: list[cluster_pb2.Cluster], nonce: str, version: str) -> None:
    data = encode_sotw_response(type_url=CLUSTER, nonce=nonce, version_info=version, resources=map(versioned, messages))
    parsed = discovery_pb2.DiscoveryResponse.FromString(data)
    assert (parsed.type_url, parsed.nonce, parsed.version_info) == (CLUSTER, nonce, version)
    assert [cluster_pb2.Cluster.FromString(a.value) for a in parsed.resources] == messages
