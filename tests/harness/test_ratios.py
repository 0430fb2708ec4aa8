"""comparisons[] in results.json: ratios to the baseline, effect sizes, the adjustment over a
run's comparisons, warnings, refusals."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.ratios import adjust, context, refusal, run_comparisons
from harness.results import Comparison
from tests.harness.fakerun import complete_measurement, complete_results, fake_run


def run(repeat: int, rate: float, wall_s: float, warmup: bool = False, **metrics: Any) -> dict:
    return {
        "repeat": repeat,
        "warmup": warmup,
        "ok": True,
        "wall_s": wall_s,
        "user_s": wall_s / 2,
        "sys_s": 0.0,
        "peak_rss_bytes": 100 << 20,
        "startup_s": 0.01,
        "metrics": {"pairs_per_s": rate, **metrics},
    }


def measurement(impl: str, rates: list[float], params: dict | None = None) -> dict:
    runs = [run(0, 1.0, 9.0, warmup=True)]
    runs += [run(i + 1, r, 1000 / r) for i, r in enumerate(rates)]
    return {"impl": impl, "task": "sample", "task_index": 0, "params": params or {}, "runs": runs}


def results(*measurements: dict) -> dict:
    return {
        "config": {"threads": 2, "seed": 1},
        "dataset": {"sha256": "abc"},
        "measurements": list(measurements),
    }


def by_metric(comps: Sequence[Comparison | dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Comparisons by figure, as their JSON (a run's returned document holds them so)."""
    rows = [c.dump() if isinstance(c, Comparison) else c for c in comps]
    return {c["metric"]: c for c in rows}


def test_ratio_interval_and_verdict_fields_against_the_baseline() -> None:
    doc = results(
        measurement("py", [100, 101, 99, 100, 102]), measurement("rs", [400, 404, 396, 400, 408])
    )
    comps = by_metric(run_comparisons(complete_results(doc)))
    tp = comps["pairs_per_s"]
    assert {k: tp[k] for k in ("task", "baseline", "impl", "metric")} == {
        "task": "sample",
        "baseline": "py",
        "impl": "rs",
        "metric": "pairs_per_s",
    }
    assert tp["ratio"] == pytest.approx(4.0)
    assert tp["ci_low"] == pytest.approx(4.0) and tp["ci_high"] == pytest.approx(4.0)
    assert tp["paired"] and tp["significant"] and tp["warning"] is None
    assert tp["n_baseline"] == tp["n_impl"] == 5  # the warmup run is left out
    assert comps["wall_s"]["ratio"] == pytest.approx(0.25)
    assert not comps["wall_s"]["higher_is_better"]
    assert tp["cliffs_delta"] == 1.0 and comps["wall_s"]["cliffs_delta"] == -1.0
    # 4 figures made (throughput, wall, cpu, peak RSS): each p-value adjusted over those 4
    made = [c for c in comps.values() if c["p_value"] is not None]
    assert len(made) == 4 and all(c["p_adjusted"] >= c["p_value"] for c in made)
    assert tp["p_value"] == pytest.approx(2 / 252, abs=1e-6) and tp["p_adjusted"] < 0.05


def comparison(p: float | None, low: float = 1.1, high: float = 1.3, **extra: Any) -> Comparison:
    ratio = None if p is None else (low + high) / 2
    return Comparison(task="sample", task_index=0, baseline="py", impl="rs", metric="pairs_per_s",
                      unit="pairs/s", higher_is_better=True, ratio=ratio, ci_low=low, ci_high=high,
                      p_value=p, significant=p is not None and p < 0.05, **extra)  # fmt: skip


def test_significance_is_decided_on_the_adjusted_p_value() -> None:
    # alone, p = 0.04 with an interval above 1 is significant; beside 19 null figures it is not
    [alone] = adjust([comparison(0.04)])
    assert alone.p_adjusted == pytest.approx(0.04) and alone.significant
    first, *others = adjust([comparison(0.04)] + [comparison(0.9, 0.9, 1.1)] * 19)
    assert first.p_adjusted == pytest.approx(0.8) and not first.significant
    assert all(c.p_adjusted == pytest.approx(0.9) and not c.significant for c in others)


def test_refused_comparisons_are_not_counted_in_the_adjustment() -> None:
    refused = comparison(None, refused="batch differs (32 vs 64)")
    made, *rest = adjust([comparison(0.04)] + [refused] * 9)
    assert made.p_adjusted == pytest.approx(0.04) and made.significant
    assert all(c.p_adjusted is None and c.ratio is None for c in rest)


def test_an_interval_holding_1_is_not_significant_however_small_p_is() -> None:
    [c] = adjust([comparison(0.001, 0.98, 1.2)])
    assert c.p_adjusted == pytest.approx(0.001) and not c.significant


def test_configured_baseline_is_used() -> None:
    doc = results(measurement("py", [100] * 5), measurement("rs", [200] * 5))
    (tp, *_) = run_comparisons(complete_results(doc), baseline="rs")
    assert tp.baseline == "rs" and tp.impl == "py" and tp.ratio == pytest.approx(0.5)


def test_wide_spread_gives_a_warning() -> None:
    doc = results(measurement("py", [100, 140, 60, 120, 80]), measurement("rs", [100] * 5))
    tp = by_metric(run_comparisons(complete_results(doc)))["pairs_per_s"]
    assert tp["warning"].startswith("py: spread too wide to conclude")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m: m["params"].update(batch=64), "batch differs (32 vs 64)"),
        (lambda m: [r["metrics"].update(threads=4) for r in m["runs"]], "threads differs (2 vs 4)"),
    ],
)
def test_measurements_of_different_context_are_refused(change: Any, why: str) -> None:
    base = measurement("py", [100] * 5, {"batch": 32})
    other = copy.deepcopy(base) | {"impl": "rs"}
    change(other)
    comps = run_comparisons(complete_results(results(base, other)))
    assert comps and all(c.ratio is None and c.refused == why for c in comps)


def test_refusal_names_seed_and_dataset_checksum() -> None:
    m = measurement("py", [100] * 3)
    a, b = results(m), results(m)
    b["config"]["seed"] = 2
    one, two, typed = complete_results(a), complete_results(b), complete_measurement(m)
    assert refusal(context(one, typed), context(two, typed)) == "seed differs (1 vs 2)"
    b["config"]["seed"] = 1
    b["dataset"]["sha256"] = "def"
    two = complete_results(b)
    assert (
        refusal(context(one, typed), context(two, typed)) == "dataset sha256 differs (abc vs def)"
    )
    assert refusal(context(one, typed), context(one, typed)) == ""


def test_a_run_writes_comparisons_into_results_json(tmp_path: Path) -> None:
    doc, _ = fake_run(
        tmp_path,
        {"a": ["--rate", "100"], "b": ["--rate", "300"]},
        comparisons={"baseline": "a"},
        repeats=3,
    )
    tp = by_metric(doc["comparisons"])["pairs_per_s"]
    assert tp["impl"] == "b" and tp["ratio"] == pytest.approx(3.0) and tp["significant"] is False
    # 3 against 3 runs cannot reach p < 0.05 with a two-sided rank test (smallest p is 0.1)
    assert tp["p_value"] == pytest.approx(0.1)
