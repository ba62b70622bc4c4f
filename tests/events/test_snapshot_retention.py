from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from events.jetstream.snapshots import KEEP, MILESTONE_EVENTS, kept


def names(seqs: list[int]) -> list[str]:
    return [f"state-{seq:020d}" for seq in sorted(set(seqs), reverse=True)]


def test_keeps_the_newest_and_the_first_snapshot_past_each_milestone() -> None:
    seqs = [10, 50_000, 100_001, 150_000, 199_999, 200_500, 250_000, 260_000, 270_000]
    kept_seqs = sorted(int(n.removeprefix("state-")) for n in kept(names(seqs)))
    assert kept_seqs == [10, 100_001, 200_500, 250_000, 260_000, 270_000]


@given(st.lists(st.integers(1, 10 * MILESTONE_EVENTS), min_size=1, max_size=60))
def test_retention_never_drops_the_newest_nor_a_milestone(seqs: list[int]) -> None:
    all_names = names(seqs)
    keep = kept(all_names)
    assert set(all_names[:KEEP]) <= keep
    milestones = {int(n.removeprefix("state-")) // MILESTONE_EVENTS for n in all_names}
    assert milestones == {int(n.removeprefix("state-")) // MILESTONE_EVENTS for n in keep}
