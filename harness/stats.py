"""Summary statistics of repeated measurements: median, IQR, min, max.

Medians and interquartile ranges, not means and standard deviations: on a shared machine the
noisy neighbour pulls the mean (../shared/BENCHMARKING.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), q in [0, 1]."""
    if not values:
        raise ValueError("quantile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """median, iqr, min, max (and n) of a non-empty sequence."""
    return {
        "median": statistics.median(values),
        "iqr": quantile(values, 0.75) - quantile(values, 0.25),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }
