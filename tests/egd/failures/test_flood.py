"""A small flood in CI (10,000 events in bursts of 1,000); tests/bench/test_flood_bench.py floods 100,000."""

from __future__ import annotations

from pathlib import Path

from tests.egd.failures.flood import run_flood


async def test_a_flood_is_coalesced_in_bounded_memory_and_envoy_gets_the_final_state(tmp_path: Path) -> None:
    result = await run_flood(tmp_path, events=10_000)
    print(result)
    # Coalesced: an Envoy is sent far fewer responses than there were events.
    assert result.xds_responses < result.events / 10, result
    # Bounded: the same 100 routes change over and over; the resident set must not grow with the events.
    assert result.rss_max_mib - result.rss_start_mib < 80, result
