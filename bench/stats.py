"""Summaries of samples: the median, and the 99th percentile where a tail means something."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank value at `fraction` (0..1) of the sorted samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    """{"median_ms", "p99_ms", "n"} of latencies in milliseconds (zeros if there are none). With fewer than 100
    samples the nearest-rank "p99" is the maximum, and the printed table says so."""
    if not samples_ms:
        return {"median_ms": 0.0, "p99_ms": 0.0, "n": 0}
    return {
        "median_ms": round(statistics.median(samples_ms), 3),
        "p99_ms": round(percentile(samples_ms, 0.99), 3),
        "n": len(samples_ms),
    }
