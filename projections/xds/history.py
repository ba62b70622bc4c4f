"""What changed between the recent resource sets of each node group, so that a delta stream need not look at
every resource to find what changed.

The xDS publisher records each resource set it publishes, with the names that changed since the set it
published before for that node group (`XdsUpdate.delta_changes`: what delta clients are served). Each
recorded set is a `Revision`; a delta stream remembers the revision it last evaluated, and at the next one
evaluates only the names changed in between (`Revision.changed_since`), whichever versions it skipped.

The changes of the last `HISTORY_LENGTH` revisions are kept per node group. A stream further behind than
that, or given a set that was not recorded (published by something else), evaluates every resource, as it
does the first time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from projections.xds.resources import ResourceSet, TypeDiff

HISTORY_LENGTH = 64
"""Revisions whose changes are kept per node group. Memory: at most this many `delta_changes` per node group
(the tuples of names the publisher made anyway), plus the latest set, which the bus holds too."""


class _Lineage:
    """One node group's recorded sets: the latest, its number, and the changes that led to the last ones."""

    __slots__ = ("changes", "latest", "number")

    def __init__(self, length: int) -> None:
        self.latest: tuple[ResourceSet, Revision] | None = None
        self.number = 0
        self.changes: deque[Mapping[str, TypeDiff]] = deque(maxlen=length)
        """changes[-1] led to revision `number`, changes[-2] to `number - 1`, ..."""

    def changed_between(self, earlier: int, later: int, type_url: str) -> set[str] | None:
        if not earlier <= later <= self.number or self.number - earlier > len(self.changes):
            return None
        names: set[str] = set()
        end = len(self.changes) - (self.number - later)
        for index in range(end - (later - earlier), end):
            found = self.changes[index].get(type_url)
            if found is not None:
                names.update(found.updated)
                names.update(found.removed)
        return names


class Revision:
    """A recorded resource set's place in its node group's history (it does not keep the set alive)."""

    __slots__ = ("_lineage", "number")

    def __init__(self, lineage: _Lineage, number: int) -> None:
        self._lineage = lineage
        self.number = number

    def changed_since(self, earlier: Revision | None, type_url: str) -> set[str] | None:
        """The names of `type_url` updated or removed after `earlier` up to this revision; None when that is not
        known (no `earlier`, another node group's, or older than the history keeps): then every name may have."""
        if earlier is None or earlier._lineage is not self._lineage:
            return None
        return self._lineage.changed_between(earlier.number, self.number, type_url)


class ResourceHistory:
    """The recent revisions of every node group's resources (see the module docstring)."""

    def __init__(self, length: int = HISTORY_LENGTH) -> None:
        self._length = length
        self._lineages: dict[str, _Lineage] = {}
        self._latest: dict[int, tuple[ResourceSet, Revision]] = {}
        """id of each node group's latest recorded set -> the set and its revision. The set is held here, so an
        id here is never one of a set that is gone."""

    def record(self, node_group: str, resources: ResourceSet, changes: Mapping[str, TypeDiff]) -> Revision:
        """`resources` is published for `node_group`; `changes` are the names (per type, as delta clients are
        served) updated and removed since the set recorded before for it, or since an empty set if none was."""
        lineage = self._lineages.get(node_group)
        if lineage is None:
            lineage = self._lineages[node_group] = _Lineage(self._length)
        previous = lineage.latest
        if previous is not None and self._latest.get(id(previous[0])) is previous:  # unless recorded again since
            del self._latest[id(previous[0])]
        lineage.number += 1
        lineage.changes.append(changes)
        lineage.latest = self._latest[id(resources)] = (resources, Revision(lineage, lineage.number))
        return lineage.latest[1]

    def revision_of(self, resources: ResourceSet) -> Revision | None:
        """The revision of `resources` if it is the latest recorded for its node group, else None."""
        found = self._latest.get(id(resources))
        return found[1] if found is not None and found[0] is resources else None
