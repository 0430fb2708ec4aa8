"""A comparison's label and the Verdict sentences a report opens with (analysis/verdicts.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.analysis.verdicts import check_sentences, comparison_sentences, label, sentences
from harness.report import html, markdown
from harness.results import Check, Comparison
from tests.harness.fakerun import complete_results


def comparison(
    ratio: float | None = 1.3,
    low: float | None = 1.2,
    high: float | None = 1.4,
    significant: bool = True,
    **extra: Any,
) -> Comparison:
    fields: dict[str, Any] = {
        "task": "step",
        "task_index": 1,
        "baseline": "python-torch",
        "impl": "rust-native",
        "metric": "pairs_per_s",
        "unit": "pairs/s",
        "higher_is_better": True,
        "ratio": ratio,
        "ci_low": low,
        "ci_high": high,
        "p_value": None if ratio is None else 0.008,
        "p_adjusted": None if ratio is None else 0.03,
        "significant": significant if ratio is not None else None,
    }
    return Comparison(**(fields | extra))


def check(name: str, ok: bool) -> Check:
    return Check(name=name, task_index=2, impls=["a", "b"], value=0.0, tolerance=0.0, ok=ok,
                 detail="")  # fmt: skip


def test_labels_of_significant_differences() -> None:
    assert label(comparison()) == "faster"
    assert label(comparison(0.7, 0.6, 0.8)) == "slower"
    wall = {"metric": "wall_s", "unit": "s", "higher_is_better": False}
    assert label(comparison(0.7, 0.6, 0.8, **wall)) == "faster"
    rss = {"metric": "peak_rss_bytes", "unit": "bytes", "higher_is_better": False}
    assert label(comparison(0.5, 0.45, 0.55, **rss)) == "less memory"
    assert label(comparison(**rss)) == "more memory"


def test_a_spread_warning_is_never_faster() -> None:
    noisy = comparison(warning="rust-native: spread too wide to conclude (IQR 18% of the median)")
    assert label(noisy) == "not settled"
    assert label(comparison(1.0, 0.99, 1.01, False, warning="a: only 2 runs")) == "not settled"


def test_level_needs_a_narrow_interval_and_not_settled_is_the_rest() -> None:
    assert label(comparison(1.01, 0.97, 1.04, False)) == "level"
    assert label(comparison(1.01, 0.95, 1.05, False)) == "level"  # the band's edges are inside
    assert label(comparison(1.01, 0.94, 1.04, False)) == "not settled"
    assert label(comparison(1.2, 0.9, 1.5, False)) == "not settled"
    # excludes 1 but not significant after the adjustment: level inside the band, else open
    assert label(comparison(1.03, 1.01, 1.04, False)) == "level"
    assert label(comparison(1.3, 1.2, 1.4, False)) == "not settled"


def test_a_refused_comparison_says_why() -> None:
    refused = comparison(None, None, None, refused="batch differs (32 vs 64)")
    assert label(refused) == "not compared: batch differs (32 vs 64)"


@given(
    st.floats(0.2, 5.0),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.booleans(),
    st.none() | st.just("a: spread too wide to conclude"),
    st.sampled_from(["pairs_per_s", "wall_s", "peak_rss_bytes"]),
)
def test_no_label_claims_a_difference_the_figures_do_not_show(
    ratio: float, below: float, above: float, significant: bool, warning: str | None, metric: str
) -> None:
    c = comparison(ratio, ratio - below, ratio + above, significant, warning=warning,
                   metric=metric, higher_is_better=metric == "pairs_per_s")  # fmt: skip
    name = label(c)
    holds_one = c.ratio is not None and (ratio - below) <= 1 <= (ratio + above)
    if name in ("faster", "slower", "less memory", "more memory"):
        assert c.significant and not c.warning and not holds_one
        assert (name in ("less memory", "more memory")) == (metric == "peak_rss_bytes")
    if name == "level":
        assert not c.warning and ratio - below >= 0.95 and ratio + above <= 1.05


def test_sentences_group_per_implementation_and_label() -> None:
    other = {"task": "forward", "task_index": 2}
    rss = {"metric": "peak_rss_bytes", "unit": "bytes", "higher_is_better": False}
    lines = comparison_sentences(
        [
            comparison(1.62, 1.48, 1.80),
            comparison(1.3, 1.2, 1.4, **other),
            comparison(1.3, 1.2, 1.4, metric="wall_s"),  # not a headline figure: tables only
            comparison(0.5, 0.45, 0.55, **rss),
            comparison(1.0, 0.98, 1.02, False, impl="rust-tch"),
            comparison(1.1, 0.8, 1.4, False, impl="rust-burn", **other),
            comparison(None, None, None, impl="rust-candle", refused="threads differs (2 vs 4)"),
        ]
    )
    assert lines == [
        "rust-native is faster than python-torch on step (task 1): 1.62x [1.48, 1.80]; "
        "forward (task 2): 1.30x [1.20, 1.40].",
        "rust-native uses less memory (peak RSS) than python-torch on step (task 1): "
        "0.50x [0.45, 0.55].",
        "Level with python-torch: rust-tch on step (task 1) (1.00x [0.98, 1.02]).",
        "Not settled (spread or interval too wide): rust-burn on forward (task 2) "
        "(1.10x [0.80, 1.40]).",
        "Not compared: rust-candle on step (task 1) (threads differs (2 vs 4)).",
    ]


def test_a_sweep_point_is_named_and_the_where_can_be_given() -> None:
    [line] = comparison_sentences([comparison(point=3)])
    assert "on step (task 1, point 3): 1.30x" in line
    [line] = comparison_sentences([comparison()], where=lambda c: f"{c.task} (paper, b32)")
    assert line == (
        "rust-native is faster than python-torch on step (paper, b32): 1.30x [1.20, 1.40]."
    )
    assert comparison_sentences([]) == [
        "No implementation was compared with a baseline in this run."
    ]


def test_check_sentences_name_the_failed_checks() -> None:
    assert check_sentences([]) == ["No output checks in this run."]
    assert check_sentences([check("pixels", True)]) == ["Checks: 1 passed."]
    assert check_sentences([check("pixels", True), check("pairs", True)]) == [
        "Checks: all 2 passed."
    ]
    failed = check_sentences([check("pixels", True), check("sampling", False)])
    assert failed == ["Checks: 1 of 2 FAILED: sampling (a vs b, task 2)."]


RUN = {
    "config": {"threads": 2, "seed": 1},
    "dataset": {"sha256": "abc"},
    "measurements": [],
}


@pytest.mark.parametrize("render", [markdown.render, html.render])
def test_a_report_opens_with_the_verdict(render: Any) -> None:
    doc = complete_results(RUN).model_copy(
        update={
            "comparisons": [comparison(task="sample", task_index=0)],
            "checks": [check("sampling", False)],
        }
    )
    text = render(doc, Path("/run"))
    first = text.index("Verdict")
    assert first < text.index("Throughput") and first < text.index("Folder")
    assert "rust-native is faster than python-torch on sample (task 0): 1.30x [1.20, 1.40]." in text
    assert "Checks: 1 of 1 FAILED: sampling (a vs b, task 2)." in text
    assert sentences(doc)[-1] == "Checks: 1 of 1 FAILED: sampling (a vs b, task 2)."


def test_a_sweep_adjusts_over_every_points_comparisons(tmp_path: Path) -> None:
    from harness.results import save
    from harness.run.config import from_dict
    from harness.run.grid import Point
    from harness.run.sweep import aggregate
    from tests.harness.fakerun import tiny_dataset

    raw = {
        "name": "sweep",
        "implementations": ["a", "b"],
        "dataset": {"root": str(tiny_dataset(tmp_path))},
        "tasks": [{"sample": {"pairs": 8}}],
        "sweep": {"threads": [1, 2]},
    }
    points = [Point(i, {"threads": i + 1}, raw) for i in range(2)]
    clear, null = comparison(p_value=0.04, p_adjusted=0.04), comparison(1.0, 0.9, 1.1, False)
    for point, made in zip(points, [clear, null.model_copy(update={"p_value": 0.9})], strict=True):
        (tmp_path / point.dir).mkdir(parents=True)
        save(tmp_path / point.dir / "results.json", complete_results(RUN | {"comparisons": [made]}))
    doc = aggregate(from_dict(raw), points, {}, tmp_path, "2026-01-01T00:00:00+00:00")
    first, second = doc.comparisons or []
    # alone in its point p = 0.04 was significant; over the sweep's two comparisons it is 0.08
    assert (first.point, second.point) == (0, 1)
    assert first.p_adjusted == pytest.approx(0.08) and not first.significant
    assert label(first) == "not settled" and second.p_adjusted == pytest.approx(0.9)
