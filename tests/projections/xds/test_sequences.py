"""`sequences`: where two versions of a sequence differ, against a plain item-by-item walk."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.xds.translate.sequences import changed_positions, changed_span, moved_end


class Item:
    """An object compared by identity, as IR pieces that are the very same object are."""

    def __init__(self, label: int) -> None:
        self.label = label


def _edited(old: list[Item], edits: list[tuple[str, int]]) -> list[Item]:
    new = list(old)
    for kind, where in edits:
        position = where % (len(new) + 1)
        if kind == "insert":
            new.insert(position, Item(-1))
        elif new and kind == "remove":
            del new[min(position, len(new) - 1)]
        elif new:
            new[min(position, len(new) - 1)] = Item(-2)
    return new


sizes = st.integers(0, 400)
edit_lists = st.lists(st.tuples(st.sampled_from(["insert", "remove", "replace"]), st.integers(0, 400)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(sizes, edit_lists)
def test_changed_span_is_the_longest_same_prefix_and_suffix(size: int, edits: list[tuple[str, int]]) -> None:
    old = [Item(i) for i in range(size)]
    new = _edited(old, edits)
    for left, right in ((old, new), (tuple(old), tuple(new))):
        start, old_end, new_end = changed_span(left, right)
        assert list(right) == [*left[:start], *right[start:new_end], *left[old_end:]]
        assert left[:start] == right[:start] and left[old_end:] == right[new_end:]
        assert start <= old_end and start <= new_end
        if start < min(old_end, new_end):  # neither end of the span could be one item longer
            assert left[start] is not right[start]
            assert left[old_end - 1] is not right[new_end - 1]


@settings(max_examples=300, deadline=None)
@given(sizes, st.lists(st.integers(0, 400), max_size=5))
def test_changed_positions_are_those_holding_other_objects(size: int, replaced: list[int]) -> None:
    old = [Item(i) for i in range(size)]
    new = list(old)
    for where in replaced:
        if new:
            new[where % len(new)] = Item(-1)
    assert changed_positions(tuple(old), tuple(new)) == [i for i in range(size) if old[i] is not new[i]]


def test_equal_items_count_as_the_same() -> None:
    assert changed_span((1, 2, 3), (1, 2, 3)) == (3, 3, 3)
    assert changed_span([1, 2, 3], [1, 5, 3]) == (1, 2, 2)
    assert changed_positions(("a", "b"), ("a", "c")) == [1]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 200), st.booleans())
def test_moved_end_finds_one_item_moved_across_a_span(size: int, source: int, target: int, changed: bool) -> None:
    old = [Item(i) for i in range(size)]
    new = list(old)
    if size:
        item = new.pop(source % size)
        new.insert(target % size, Item(-1) if changed else item)
    start, old_end, new_end = changed_span(old, new)
    gone, came = old[start:old_end], new[start:new_end]
    moved = moved_end(gone, came)
    if moved > 0:
        assert gone[1:] == came[:-1]
    elif moved < 0:
        assert gone[:-1] == came[1:]
    else:  # nothing moved across the others: at most one item changed in place
        assert len(gone) <= 1
