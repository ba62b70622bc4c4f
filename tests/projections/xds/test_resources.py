from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from projections.xds.resources import (
    ADD_ORDER,
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    RATE_LIMIT_CONFIG,
    ROUTE_CONFIGURATION,
    SECRET,
    TypeDiff,
    diff,
    order_for_adds,
    order_for_removals,
    resource_set,
    versioned,
    with_changes,
)
from tests.egd.xds.builders import cluster, endpoints, listener, route


def test_version_is_a_content_hash_stable_across_map_order() -> None:
    one, two = cluster_pb2.Cluster(name="c"), cluster_pb2.Cluster(name="c")
    one.metadata.filter_metadata["a"].update({"x": 1, "y": 2})
    two.metadata.filter_metadata["a"].update({"y": 2, "x": 1})
    assert versioned(one).version == versioned(two).version
    assert len(versioned(one).version) == 64
    assert versioned(one).version != versioned(cluster_pb2.Cluster(name="c")).version


def test_names_and_eds_references() -> None:
    assert versioned(endpoints("backend", 80)).name == "backend"
    assert versioned(cluster("c")).eds_service_name == "c"
    assert versioned(cluster("c", service_name="svc")).eds_service_name == "svc"
    assert versioned(cluster_pb2.Cluster(name="static", type=cluster_pb2.Cluster.STATIC)).eds_service_name == ""


def test_body_is_the_serialised_any() -> None:
    from google.protobuf import any_pb2

    packed = any_pb2.Any.FromString(versioned(cluster("c")).body)
    assert packed.type_url == CLUSTER
    assert cluster_pb2.Cluster.FromString(packed.value).name == "c"


def test_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        resource_set([cluster("c"), cluster("c", connect_timeout_ms=5)])


def test_diff_and_with_changes() -> None:
    before = resource_set([cluster("a"), cluster("b"), listener("l", 1, "r"), route("r", "a")])
    after = with_changes(
        before,
        updated=[(CLUSTER, versioned(cluster("a", connect_timeout_ms=9))), (CLUSTER, versioned(cluster("c")))],
        removed=[(CLUSTER, "b"), (ROUTE_CONFIGURATION, "r")],
    )
    assert after.of_type(LISTENER) is before.of_type(LISTENER)  # untouched types are shared
    assert ROUTE_CONFIGURATION not in after.by_type
    assert diff(before, after) == {
        CLUSTER: TypeDiff(updated=("a", "c"), removed=("b",)),
        ROUTE_CONFIGURATION: TypeDiff(updated=(), removed=("r",)),
    }
    assert diff(after, after) == {}
    assert diff(before, resource_set([cluster("a"), cluster("b"), listener("l", 1, "r"), route("r", "a")])) == {}


def test_make_before_break_orders() -> None:
    shuffled = [ROUTE_CONFIGURATION, "type.googleapis.com/x.Y", LISTENER, CLUSTER_LOAD_ASSIGNMENT, CLUSTER, SECRET]
    assert order_for_adds(shuffled) == [
        SECRET,
        CLUSTER,
        CLUSTER_LOAD_ASSIGNMENT,
        LISTENER,
        ROUTE_CONFIGURATION,
        "type.googleapis.com/x.Y",
    ]
    assert order_for_removals(shuffled) == list(reversed(order_for_adds(shuffled)))
    assert ADD_ORDER[-1] == RATE_LIMIT_CONFIG
