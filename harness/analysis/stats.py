"""Statistics of repeated measurements: summaries, ratio intervals, significance, spread.

Medians and interquartile ranges, not means and standard deviations: on a shared machine the
noisy neighbour pulls the mean. Two samples are compared by the
ratio of their medians with a seeded percentile bootstrap interval (paired when the runs were
interleaved A B A B) and a Mann-Whitney U test; a difference counts as real only when the
interval excludes 1 and the test is significant (asv's rule). A spread warning says when a
figure is too noisy to conclude from. Beside each p-value, Cliff's delta gives the size of the
effect; a run's p-values are adjusted together by Benjamini-Hochberg (`benjamini_hochberg`, the
false discovery rate across its comparisons: docs/reports.md, "Multiple comparisons").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.results import Stat


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), q in [0, 1]."""
    if not values:
        raise ValueError("quantile of no values")
    return float(np.quantile(np.asarray(values, dtype=np.float64), q))


def summarize(values: Sequence[float]) -> Stat:
    """median, iqr, min, max (and n) of a non-empty sequence."""
    return Stat(
        median=statistics.median(values),
        iqr=quantile(values, 0.75) - quantile(values, 0.25),
        min=min(values),
        max=max(values),
        n=len(values),
    )


# Relative IQR (IQR / median) above which a figure is too noisy to conclude from; pyperf warns
# when the standard deviation exceeds 10% of the mean, this is the distribution-free analogue.
SPREAD_WARN_REL_IQR = 0.10
MIN_RUNS = 3
ALPHA = 0.05  # the significance level, of a p-value or of a run's adjusted p-values
EXACT_MANN_WHITNEY_MAX = 20_000  # enumerate the exact U distribution up to this many splits


@dataclass(frozen=True)
class RatioInterval:
    """median(new) / median(base) with a bootstrap interval and a Mann-Whitney p-value."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    paired: bool

    def significant(self, alpha: float = ALPHA) -> bool:
        """A real difference: the interval excludes 1 and the rank test agrees."""
        return significant(self.p_value, self.ci_low, self.ci_high, alpha)


def significant(p_value: float, ci_low: float, ci_high: float, alpha: float = ALPHA) -> bool:
    """asv's rule: p below alpha and the ratio's interval excluding 1."""
    return p_value < alpha and (ci_low > 1.0 or ci_high < 1.0)


def bootstrap_ratio(
    base: Sequence[float],
    new: Sequence[float],
    *,
    paired: bool = False,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of medians new/base and its percentile bootstrap interval (deterministic: seeded).

    `paired` resamples (base[i], new[i]) together: runs taken A B A B share the machine's drift,
    so resampling them jointly keeps that correlation and narrows the interval honestly.
    """
    if not base or not new:
        raise ValueError("bootstrap of an empty sample")
    if paired and len(base) != len(new):
        raise ValueError("paired bootstrap needs samples of equal length")
    a = np.asarray(base, dtype=np.float64)
    b = np.asarray(new, dtype=np.float64)
    ratio = _ratio(float(np.median(b)), float(np.median(a)))
    rng = np.random.default_rng(seed)
    if paired:
        idx = rng.integers(0, len(a), size=(resamples, len(a)))
        med_a, med_b = np.median(a[idx], axis=1), np.median(b[idx], axis=1)
    else:
        med_a = np.median(a[rng.integers(0, len(a), size=(resamples, len(a)))], axis=1)
        med_b = np.median(b[rng.integers(0, len(b), size=(resamples, len(b)))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(med_a != 0, med_b / np.where(med_a != 0, med_a, 1.0), np.inf)
    tail = (1.0 - confidence) / 2
    lo, hi = np.quantile(ratios, [tail, 1.0 - tail])
    return ratio, float(lo), float(hi)


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return 1.0 if num == 0 else math.inf
    return num / den


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: `scipy.stats.mannwhitneyu`.

    Exact (`method="exact"`) while the samples split in at most `EXACT_MANN_WHITNEY_MAX` ways,
    so 5 against 5 repeats (252 splits) give an exact p-value, the smallest being 2/252; with
    ties, the exact distribution of the pooled mid-ranks (a permutation test over every split).
    Larger samples use the normal approximation with the tie and continuity corrections.
    scipy.stats is imported here, not at module level: it costs about 0.5 s of start-up.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney test of an empty sample")
    from scipy import stats as sps  # type: ignore[import-untyped]

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    pooled = np.concatenate([x, y])
    if np.all(pooled == pooled[0]):
        return 1.0  # every value equal: no evidence either way (scipy would give nan)
    if math.comb(n1 + n2, n1) > EXACT_MANN_WHITNEY_MAX:
        res = sps.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    elif len(np.unique(pooled)) == n1 + n2:
        res = sps.mannwhitneyu(x, y, alternative="two-sided", method="exact")
    else:  # ties: scipy's "exact" ignores them; enumerate the splits of the mid-ranks instead
        mean_r1 = n1 * (n1 + n2 + 1) / 2

        def distance(xs: np.ndarray, ys: np.ndarray, axis: int) -> np.ndarray:
            """|rank sum of the first group - its mean under the null|"""
            ranks = sps.rankdata(np.concatenate([xs, ys], axis=axis), axis=axis)
            return np.asarray(np.abs(np.take(ranks, range(n1), axis=axis).sum(axis=axis) - mean_r1))

        if min(n1, n2) == 1:  # permutation_test needs two values a group: the lone value's
            ranks = sps.rankdata(pooled)  # rank is equally likely to be any of the mid-ranks
            lone = 0 if n1 == 1 else n1 + n2 - 1
            mean = (n1 + n2 + 1) / 2
            return float(np.mean(np.abs(ranks - mean) >= abs(ranks[lone] - mean) - 1e-9))
        res = sps.permutation_test(
            (x, y),
            distance,
            permutation_type="independent",
            vectorized=True,
            n_resamples=math.inf,
            alternative="greater",
        )
    return float(min(1.0, res.pvalue))


def cliffs_delta(base: Sequence[float], new: Sequence[float]) -> float:
    """Cliff's delta of `new` against `base`: P(new > base) - P(new < base) over every pair.

    The effect size of the Mann-Whitney test (delta = 2 U / (n1 n2) - 1), in [-1, 1]: 1 when every
    value of `new` is above every value of `base`, 0 when they interleave evenly. Positive means
    `new`'s values are larger (faster for a throughput, slower for seconds).
    """
    if not base or not new:
        raise ValueError("Cliff's delta of an empty sample")
    x = np.asarray(base, dtype=np.float64)
    y = np.asarray(new, dtype=np.float64)
    diff = np.sign(y[:, None] - x[None, :])
    return float(diff.mean())


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the order given (the step-up q-values).

    The i-th smallest of m p-values becomes min over j >= i of m p_(j) / j, capped at 1; calling
    those below alpha significant keeps the expected share of false discoveries among them at
    most alpha (independent or positively dependent tests, as a run's figures are).
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, m * float(p_values[i]) / rank)
        out[i] = min(1.0, running)
    return out


def compare_samples(
    base: Sequence[float], new: Sequence[float], *, paired: bool = False, seed: int = 0
) -> RatioInterval:
    ratio, lo, hi = bootstrap_ratio(base, new, paired=paired, seed=seed)
    return RatioInterval(ratio, lo, hi, mann_whitney_p(base, new), paired)


def relative_iqr(values: Sequence[float]) -> float:
    med = statistics.median(values)
    iqr = quantile(values, 0.75) - quantile(values, 0.25)
    return math.inf if med == 0 and iqr > 0 else (0.0 if med == 0 else abs(iqr / med))


def spread_warning(label: str, values: Sequence[float], limit: float = SPREAD_WARN_REL_IQR) -> str:
    """'' when `values` are tight enough to conclude from, else one sentence saying why not."""
    if len(values) < MIN_RUNS:
        return f"{label}: only {len(values)} runs; at least {MIN_RUNS} are needed to conclude"
    rel = relative_iqr(values)
    if rel > limit:
        return (
            f"{label}: spread too wide to conclude (IQR {100 * rel:.0f}% of the median, "
            f"over {100 * limit:.0f}%)"
        )
    return ""
