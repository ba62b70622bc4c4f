"""Where two versions of a long sequence differ, found without a Python step per item.

A changed route gives its listener a new tuple of 10,000 virtual hosts (or its virtual host a new tuple of
routes) in which every other item is the very same object. Comparing whole blocks of items (`==` on
tuples checks identity before equality, in C) finds the few that differ at a small fraction of the cost
of a Python loop over all of them, so the work that follows is proportional to the change.

Items count as the same when they are the same object or equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_BLOCK = 64


def _same(a: object, b: object) -> bool:
    return a is b or a == b


def changed_span(old: Sequence[T], new: Sequence[T]) -> tuple[int, int, int]:
    """`(start, old_end, new_end)`: `old[start:old_end]` became `new[start:new_end]`, the items before `start`
    and after the ends being the same in both (the longest such prefix and suffix)."""
    old_length, new_length = len(old), len(new)
    shortest = min(old_length, new_length)
    start = 0
    while start < shortest:
        end = min(start + _BLOCK, shortest)
        if old[start:end] != new[start:end]:
            while _same(old[start], new[start]):
                start += 1
            break
        start = end
    suffix, limit = 0, shortest - start
    while suffix < limit:
        step = min(_BLOCK, limit - suffix)
        if (
            old[old_length - suffix - step : old_length - suffix]
            != new[new_length - suffix - step : new_length - suffix]
        ):
            while _same(old[old_length - suffix - 1], new[new_length - suffix - 1]):
                suffix += 1
            break
        suffix += step
    return start, old_length - suffix, new_length - suffix


def changed_positions(old: Sequence[T], new: Sequence[T]) -> list[int]:
    """The positions where `old` and `new`, of the same length, hold items that are not the same."""
    positions: list[int] = []
    for start in range(0, len(old), _BLOCK):
        end = min(start + _BLOCK, len(old))
        if old[start:end] != new[start:end]:
            positions.extend(i for i in range(start, end) if not _same(old[i], new[i]))
    return positions


def moved_end(old: Sequence[T], new: Sequence[T]) -> int:
    """For a changed span (`old` and `new` of one length, differing at both ends): 1 when `new` is `old` with its
    first item moved to the end (and maybe changed), -1 when with its last item moved to the front, else 0.
    A changed route often moves so (its precedence changed): the routes in between are the same."""
    if len(old) != len(new) or len(old) < 2:
        return 0
    if old[1:] == new[:-1]:
        return 1
    if old[:-1] == new[1:]:
        return -1
    return 0
