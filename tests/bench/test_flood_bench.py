"""100,000 events in bursts of 1,000 against a real daemon and Envoy (see tests/egd/failures/flood.py).

python3 -m pytest tests/bench/test_flood_bench.py -o addopts="" -s
"""

from __future__ import annotations

from pathlib import Path

from tests.egd.failures.flood import run_flood


async def test_flood_100k(tmp_path: Path) -> None:
    result = await run_flood(tmp_path, events=100_000)
    print(
        f"\nflood: {result.events} events published in {result.publish_seconds:.1f}s "
        f"({result.events / result.publish_seconds:,.0f}/s); fold at the last sequence {result.fold_seconds:.1f}s "
        f"after the last ack, Envoy at the final state {result.converged_seconds:.2f}s later; "
        f"xDS responses {result.xds_responses}; "
        f"RSS {result.rss_start_mib:.0f} -> max {result.rss_max_mib:.0f} -> end {result.rss_end_mib:.0f} MiB"
    )
    assert result.xds_responses < result.events / 10
    assert result.rss_max_mib - result.rss_start_mib < 150
