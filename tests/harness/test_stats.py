"""Ratio intervals, the Mann-Whitney test, Cliff's delta, the Benjamini-Hochberg adjustment and
spread warnings (harness/analysis/stats.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis import stats
from harness.analysis.stats import (
    benjamini_hochberg,
    bootstrap_ratio,
    cliffs_delta,
    compare_samples,
    mann_whitney_p,
    relative_iqr,
    spread_warning,
)


def noisy(center: float, rel: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [center * (1 + rel * (2 * rng.random() - 1)) for _ in range(n)]


def test_mann_whitney_exact_p_of_fully_separated_samples() -> None:
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert mann_whitney_p([6, 7, 8], [1, 2, 3]) == pytest.approx(2 / 20)


def test_mann_whitney_of_identical_samples_is_one() -> None:
    assert mann_whitney_p([5.0] * 5, [5.0] * 5) == 1.0
    assert mann_whitney_p([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == 1.0


def test_mann_whitney_normal_approximation_agrees_with_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = noisy(100, 0.1, 8, 1), noisy(108, 0.1, 8, 2)
    exact = mann_whitney_p(a, b)
    monkeypatch.setattr(stats, "EXACT_MANN_WHITNEY_MAX", 0)
    approx = mann_whitney_p(a, b)
    assert 0.0 < exact < 1.0
    assert approx == pytest.approx(exact, abs=0.02)


def test_bootstrap_of_constant_samples_is_exact() -> None:
    ratio, lo, hi = bootstrap_ratio([1000.0] * 5, [900.0] * 5)
    assert ratio == lo == hi == pytest.approx(0.9)


def test_bootstrap_is_deterministic_and_brackets_the_ratio() -> None:
    a, b = noisy(100, 0.05, 7, 3), noisy(110, 0.05, 7, 4)
    first = bootstrap_ratio(a, b)
    assert bootstrap_ratio(a, b) == first
    ratio, lo, hi = first
    assert lo <= ratio <= hi
    assert lo < 1.1 < hi


def test_paired_bootstrap_is_narrower_under_shared_drift() -> None:
    drift = [1.0, 1.3, 0.8, 1.2, 0.9, 1.1, 0.7]
    a = [100 * d for d in drift]
    b = [120 * d * (1 + 0.01 * (i % 2)) for i, d in enumerate(drift)]
    _, plo, phi = bootstrap_ratio(a, b, paired=True)
    _, ulo, uhi = bootstrap_ratio(a, b, paired=False)
    assert phi - plo < (uhi - ulo) / 3
    assert plo <= 1.2 <= phi


def test_paired_bootstrap_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="equal length"):
        bootstrap_ratio([1.0, 2.0], [1.0], paired=True)


def test_a_ten_percent_shift_is_significant_and_a_to_a_is_not() -> None:
    base = noisy(1000, 0.03, 5, 10)
    slower = compare_samples(base, noisy(900, 0.03, 5, 11))
    same = compare_samples(base, noisy(1000, 0.03, 5, 12))
    assert slower.significant() and slower.ci_high < 1.0
    assert not same.significant() and same.ci_low <= 1.0 <= same.ci_high


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(1.0, 1e6), min_size=2, max_size=9),
    st.floats(0.1, 10.0),
)
def test_paired_ratio_of_a_scaled_sample_is_the_scale(xs: list[float], scale: float) -> None:
    ratio, lo, hi = bootstrap_ratio(xs, [scale * x for x in xs], paired=True, resamples=200)
    assert ratio == pytest.approx(scale)
    assert lo == pytest.approx(scale) and hi == pytest.approx(scale)


def test_spread_warning_says_when_a_figure_is_too_noisy() -> None:
    assert spread_warning("a", [100, 101, 99, 100, 102]) == ""
    wide = spread_warning("a", [100, 130, 70, 110, 90])
    assert wide.startswith("a: spread too wide to conclude") and "over 10%" in wide
    assert "only 2 runs" in spread_warning("a", [1.0, 1.0])
    assert relative_iqr([0.0, 0.0, 0.0]) == 0.0


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): m p / rank = 0.02, 0.02, 0.04, 0.04, then the
    # running minimum from the largest down; returned in the order given
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([0.04] + [0.9] * 19) == pytest.approx([0.8] + [0.9] * 19)
    assert benjamini_hochberg([0.3]) == [0.3] and benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_benjamini_hochberg_agrees_with_scipy(ps: list[float]) -> None:
    from scipy.stats import false_discovery_control  # type: ignore[import-untyped]

    expected = false_discovery_control(ps, method="bh")
    assert benjamini_hochberg(ps) == pytest.approx(list(expected), abs=1e-12)
    assert all(q >= p - 1e-12 for p, q in zip(ps, benjamini_hochberg(ps), strict=True))


def test_cliffs_delta_of_separated_equal_and_interleaved_samples() -> None:
    assert cliffs_delta([1.0, 2.0, 3.0], [4.0, 5.0]) == 1.0
    assert cliffs_delta([4.0, 5.0], [1.0, 2.0, 3.0]) == -1.0
    assert cliffs_delta([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.0
    assert cliffs_delta([1.0, 3.0], [2.0, 4.0]) == pytest.approx(0.5)  # 3 of 4 pairs up, 1 down
    with pytest.raises(ValueError, match="empty"):
        cliffs_delta([], [1.0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=8),
    st.lists(st.integers(0, 6), min_size=1, max_size=8),
)
def test_cliffs_delta_is_the_mann_whitney_u_rescaled(xs: list[int], ys: list[int]) -> None:
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(ys, xs, method="asymptotic").statistic  # U of ys: pairs ys > xs, ties 1/2
    delta = cliffs_delta([float(x) for x in xs], [float(y) for y in ys])
    assert delta == pytest.approx(2 * u / (len(xs) * len(ys)) - 1)
