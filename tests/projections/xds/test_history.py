"""The history of published resource sets: what changed between the revisions a delta stream evaluates."""

from __future__ import annotations

from projections.xds.history import ResourceHistory
from projections.xds.resources import CLUSTER, LISTENER, ResourceSet, TypeDiff


def changed(*updated: str, removed: tuple[str, ...] = ()) -> dict[str, TypeDiff]:
    return {CLUSTER: TypeDiff(updated=updated, removed=removed)}


def test_the_changes_since_an_earlier_revision_are_those_of_every_revision_skipped() -> None:
    history = ResourceHistory()
    sets = [ResourceSet() for _ in range(4)]
    first = history.record("ns/gw", sets[0], changed("a", "b"))
    history.record("ns/gw", sets[1], changed("c"))
    history.record("ns/gw", sets[2], {LISTENER: TypeDiff(updated=("l",), removed=())})
    last = history.record("ns/gw", sets[3], changed(removed=("a",)))
    assert history.revision_of(sets[3]) is last
    assert last.changed_since(first, CLUSTER) == {"c", "a"}
    assert last.changed_since(first, LISTENER) == {"l"}
    assert last.changed_since(last, CLUSTER) == set()
    assert last.changed_since(None, CLUSTER) is None


def test_only_the_latest_set_of_a_node_group_has_a_revision() -> None:
    history = ResourceHistory()
    old, new, elsewhere = ResourceSet(), ResourceSet(), ResourceSet()
    history.record("ns/gw", old, changed("a"))
    history.record("ns/gw", new, changed("a"))
    history.record("ns/other", elsewhere, changed("a"))
    assert history.revision_of(old) is None
    assert history.revision_of(ResourceSet()) is None  # equal but not recorded
    mine, theirs = history.revision_of(new), history.revision_of(elsewhere)
    assert mine is not None and theirs is not None
    assert mine.changed_since(theirs, CLUSTER) is None  # another node group's revision says nothing


def test_a_revision_further_behind_than_the_history_keeps_gives_no_changes() -> None:
    history = ResourceHistory(length=3)
    revisions = [history.record("ns/gw", ResourceSet(), changed(f"c{i}")) for i in range(6)]
    latest = revisions[-1]
    assert latest.changed_since(revisions[2], CLUSTER) == {"c3", "c4", "c5"}  # 3 revisions back: kept
    assert latest.changed_since(revisions[1], CLUSTER) is None
    assert revisions[4].changed_since(revisions[2], CLUSTER) == {"c3", "c4"}
    assert revisions[2].changed_since(revisions[4], CLUSTER) is None  # never backwards


def test_a_set_recorded_again_or_for_another_node_group_keeps_one_revision() -> None:
    history = ResourceHistory()
    shared = ResourceSet()
    history.record("ns/gw", shared, changed("a"))
    again = history.record("ns/gw", shared, {})
    assert history.revision_of(shared) is again
    other = history.record("ns/other", shared, changed("b"))
    assert history.revision_of(shared) is other
    history.record("ns/gw", ResourceSet(), changed("c"))  # ns/gw moves on; the set is still ns/other's latest
    assert history.revision_of(shared) is other
