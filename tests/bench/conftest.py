"""Benchmarks: real components, several rounds, medians reported (never asserted in unit tests)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

ROUNDS = int(os.environ.get("EGD_BENCH_ROUNDS", "5"))


def report(name: str, samples: list[float], unit: str, better: str = "higher") -> None:
    median = statistics.median(samples)
    spread = (max(samples) - min(samples)) / median * 100 if median else 0.0
    print(
        f"\nBENCH {name}: median {median:,.1f} {unit} over {len(samples)} rounds "
        f"(min {min(samples):,.1f}, max {max(samples):,.1f}, spread {spread:.0f}%, {better} is better)"
    )


def measure(rounds: int, run: Callable[[], float]) -> list[float]:
    return [run() for _ in range(rounds)]
