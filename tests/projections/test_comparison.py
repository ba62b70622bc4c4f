"""Field-level diffs of documents, object and xDS comparisons."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.keys import ResourceKey
from projections.comparison import FieldChange, compare_objects, compare_xds, field_changes
from projections.xds.resources import CLUSTER, LISTENER, ResourceSet, VersionedResource

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from("xyz"), children, max_size=3),
    max_leaves=12,
)


def apply_changes(value: Any, changes: list[FieldChange]) -> Any:
    """Rebuild `after` from `before` and the changes (the diff says everything that differs)."""
    if not changes:
        return value
    if len(changes) == 1 and changes[0].path == "":
        return changes[0].after
    result = copy.deepcopy(value)
    removals = []
    for change in changes:
        tokens = re.findall(r"\[(\d+)\]|\.?([a-z]+)", change.path)
        keys: list[Any] = [int(index) if index else name for index, name in tokens]
        parent = result
        for key in keys[:-1]:
            parent = parent[key]
        if change.op == "removed":
            removals.append((parent, keys[-1]))
        elif isinstance(parent, list) and keys[-1] == len(parent):
            parent.append(change.after)
        else:
            parent[keys[-1]] = change.after
    for parent, key in sorted(removals, key=lambda r: -r[1] if isinstance(r[1], int) else 0):
        del parent[key]
    return result


documents = st.dictionaries(st.sampled_from("abc"), json_values, max_size=3)


@settings(max_examples=200)
@given(documents, documents)
def test_no_changes_exactly_when_equal_and_changes_rebuild_the_after(before: Any, after: Any) -> None:
    changes = field_changes(before, after)
    assert (changes == []) == (before == after)
    assert apply_changes(before, changes) == after


def test_a_changed_route_path_reads_as_one_line() -> None:
    before = {"spec": {"rules": [{"matches": [{"path": {"value": "/shop"}}]}], "hostnames": ["a"]}}
    after = {"spec": {"rules": [{"matches": [{"path": {"value": "/store"}}]}], "hostnames": ["a", "b"]}}
    assert field_changes(before, after) == [
        FieldChange(path="spec.hostnames[1]", op="added", after="b"),
        FieldChange(path="spec.rules[0].matches[0].path.value", op="changed", before="/shop", after="/store"),
    ]


def test_objects_created_changed_and_deleted() -> None:
    def key(name: str) -> ResourceKey:
        return ResourceKey(group="", kind="ConfigMap", namespace="default", name=name)

    before = {key("kept"): {"data": 1}, key("changed"): {"data": 1}, key("gone"): {"data": 1}}
    after = {key("kept"): {"data": 1}, key("changed"): {"data": 2}, key("new"): {"data": 1}}
    changes = {c.resource: c for c in compare_objects(before, after)}
    assert {r: c.change for r, c in changes.items()} == {
        "ConfigMap/default/changed": "changed",
        "ConfigMap/default/gone": "deleted",
        "ConfigMap/default/new": "created",
    }
    assert changes["ConfigMap/default/changed"].fields == (FieldChange(path="data", op="changed", before=1, after=2),)


def test_xds_resources_added_changed_and_removed_per_gateway() -> None:
    def resource(name: str, version: str) -> VersionedResource:
        return VersionedResource(name=name, version=version, body=b"")

    before = {
        "default/a": ResourceSet(by_type={CLUSTER: {"c1": resource("c1", "1"), "c2": resource("c2", "1")}}),
        "default/gone": ResourceSet(by_type={LISTENER: {"l": resource("l", "1")}}),
        "default/same": ResourceSet(by_type={LISTENER: {"l": resource("l", "1")}}),
    }
    after = {
        "default/a": ResourceSet(by_type={CLUSTER: {"c1": resource("c1", "2"), "c3": resource("c3", "1")}}),
        "default/new": ResourceSet(by_type={LISTENER: {"l": resource("l", "1")}}),
        "default/same": ResourceSet(by_type={LISTENER: {"l": resource("l", "1")}}),
    }
    changes = {c.gateway: c for c in compare_xds(before, after)}
    assert {g: c.change for g, c in changes.items()} == {
        "default/a": "changed",
        "default/gone": "removed",
        "default/new": "added",
    }
    (cluster,) = changes["default/a"].types
    assert (cluster.added, cluster.changed, cluster.removed) == (("c3",), ("c1",), ("c2",))
    assert changes["default/gone"].types[0].removed == ("l",)
