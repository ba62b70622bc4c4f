"""The audit trail names the Gateways each change affected, and skipping translation before `since`
changes nothing in what it shows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.history import HistoryFilter, history
from tests.projections.gatewayapi.universe import SLOTS
from tests.projections.test_replay import log_of

steps = st.lists(st.tuples(st.integers(0, len(SLOTS) - 1), st.integers(-1, 4)), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.data())
def test_since_shows_the_same_entries_as_filtering_the_whole_trail(
    sequence: list[tuple[int, int]], data: st.DataObject
) -> None:
    records = log_of(sequence)
    cut = records[data.draw(st.integers(0, len(records) - 1))].stored_at
    everything = history(records, HistoryFilter())
    assert history(records, HistoryFilter(since=cut)) == [entry for entry in everything if entry.at >= cut]


def test_each_entry_names_the_gateways_it_touched() -> None:
    records = log_of([(slot, 0) for slot in range(len(SLOTS))])
    entries = {entry.resource: entry for entry in history(records, HistoryFilter())}
    touched = {gateway for entry in entries.values() for gateway in entry.gateways}
    assert touched == {"default/gw-a", "default/gw-b"}
    only_b = history(records, HistoryFilter(gateway="default/gw-b"))
    assert only_b and all("default/gw-b" in entry.gateways for entry in only_b)
    assert len(only_b) < len(entries)
