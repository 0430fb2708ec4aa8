"""Ratios between implementations inside one run: `comparisons[]` in results.json.

For every task, every implementation is compared with the baseline (`comparisons.baseline` in
the config, else the first implementation) on each figure both have: the task's throughput
metric, achieved GFLOP/s, wall seconds, CPU seconds and peak RSS. Runs were taken A B A B, so
the bootstrap pairs them by repeat. Each entry carries the ratio impl/baseline of the medians,
its 95% interval, the Mann-Whitney p-value, Cliff's delta (the effect size), the p-value
adjusted over every comparison the run made (Benjamini-Hochberg, `adjust`), whether the
difference is significant after that adjustment, and a `warning` when the spread is too wide to
conclude. A sweep adjusts once more over the comparisons of all its points (run/sweep.py).
What a comparison is called (faster, level, not settled, ...) is analysis/verdicts.py's `label`.

Measurements whose context differs (thread count, batch, seed or data set checksum) are never
compared: their entry has no ratio and says why in `refused`. `diff.py` uses the same figures
and the same refusal across two runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.stats import (
    SPREAD_WARN_REL_IQR,
    benjamini_hochberg,
    cliffs_delta,
    compare_samples,
    significant,
    spread_warning,
)
from harness.process.protocol import THROUGHPUT
from harness.results import Comparison, Measurement, Results, Run, by_task, measured_runs


@dataclass(frozen=True)
class Figure:
    """One comparable figure of a measurement: where its value comes from and its direction."""

    name: str
    unit: str
    higher_is_better: bool


def figures_of(task: str) -> list[Figure]:
    metric, unit = THROUGHPUT.get(task, ("", ""))
    out = [Figure(metric, unit, True)] if metric else []
    out += [
        Figure("gflop_per_s", "GFLOP/s", True),
        Figure("wall_s", "s", False),
        Figure("cpu_s", "s", False),
        Figure("peak_rss_bytes", "bytes", False),
    ]
    return out


def run_value(run: Run, figure: str) -> float | None:
    """A figure of one run: harness-measured resources, else the implementation's metric."""
    if figure == "cpu_s":
        return float(run.user_s) + float(run.sys_s)
    if figure in ("wall_s", "peak_rss_bytes", "startup_s"):
        value = getattr(run, figure)
        return None if value is None else float(value)
    return metric_value(run, figure)


def metric_value(run: Run, figure: str) -> float | None:
    """A figure the implementation reported (its result.json's `metrics`, read here only): the
    number, `gflop_per_s` from `gflop` over `task_s` (or the wall time) when it gave those."""
    metrics = run.metrics
    value = metrics.get(figure)
    if figure == "gflop_per_s" and value is None and "gflop" in metrics:
        task_s = metrics.get("task_s") or run.wall_s
        value = float(metrics["gflop"]) / float(task_s) if task_s else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def values(measurement: Measurement, figure: str) -> dict[int, float]:
    """Figure values of the measured runs, keyed by repeat index."""
    out: dict[int, float] = {}
    for run in measured_runs(measurement):
        v = run_value(run, figure)
        if v is not None:
            out[run.repeat] = v
    return out


def context(results: Results, measurement: Measurement) -> dict[str, Any]:
    """What must be equal for two measurements to be comparable."""
    config = results.config
    threads: Any = config.get("threads", 2)
    reported = {
        t for r in measured_runs(measurement) if isinstance(t := r.metrics.get("threads"), int)
    }
    if len(reported) == 1:
        threads = reported.pop()
    elif reported:
        threads = sorted(reported)
    return {
        "threads": threads,
        "batch": measurement.params.get("batch"),
        "seed": config.get("seed", 0),
        "dataset sha256": results.dataset.sha256,
    }


def refusal(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """'' when two contexts are comparable, else the first difference as one phrase."""
    for key in a:
        if a[key] != b.get(key):
            return f"{key} differs ({a[key]} vs {b.get(key)})"
    return ""


def compare_figure(
    base: Mapping[int, float],
    new: Mapping[int, float],
    *,
    paired: bool,
    max_rel_iqr: float = SPREAD_WARN_REL_IQR,
    labels: tuple[str, str] = ("baseline", "impl"),
) -> dict[str, Any]:
    """ratio new/base of medians, its interval, p-value, effect size, significance (of this
    figure alone: `adjust` decides it again over a run) and a spread warning."""
    if paired:
        keys = sorted(set(base) & set(new))
        xs, ys = [base[k] for k in keys], [new[k] for k in keys]
        paired = len(keys) >= 2
    if not paired:
        xs, ys = [base[k] for k in sorted(base)], [new[k] for k in sorted(new)]
    interval = compare_samples(xs, ys, paired=paired)
    warnings = [
        w
        for w in (
            spread_warning(labels[0], xs, max_rel_iqr),
            spread_warning(labels[1], ys, max_rel_iqr),
        )
        if w
    ]
    return {
        "ratio": interval.ratio,
        "ci_low": interval.ci_low,
        "ci_high": interval.ci_high,
        "p_value": round(interval.p_value, 6),
        "cliffs_delta": round(cliffs_delta(xs, ys), 6),
        "significant": interval.significant(),
        "paired": interval.paired,
        "n_baseline": len(xs),
        "n_impl": len(ys),
        "warning": "; ".join(warnings) or None,
    }


def run_comparisons(
    results: Results,
    baseline: str | None = None,
    max_rel_iqr: float = SPREAD_WARN_REL_IQR,
) -> list[Comparison]:
    """Every implementation against the baseline, per task and figure."""
    out: list[Comparison] = []
    for index, group in by_task(results.measurements):
        ids = [m.impl for m in group]
        base_id = str(baseline if baseline in ids else ids[0])
        base = next(m for m in group if m.impl == base_id)
        for other in group:
            if other.impl == base_id:
                continue
            why = refusal(context(results, base), context(results, other))
            for figure in figures_of(base.task):
                a, b = values(base, figure.name), values(other, figure.name)
                if not a or not b:
                    continue
                entry: dict[str, Any] = {
                    "task": base.task,
                    "task_index": index,
                    "baseline": base_id,
                    "impl": other.impl,
                    "metric": figure.name,
                    "unit": figure.unit,
                    "higher_is_better": figure.higher_is_better,
                }
                if why:
                    entry.update(ratio=None, ci_low=None, ci_high=None, refused=why, warning=why)
                else:
                    labels = (base_id, other.impl)
                    entry.update(
                        compare_figure(a, b, paired=True, max_rel_iqr=max_rel_iqr, labels=labels)
                    )
                out.append(Comparison(**entry))
    return adjust(out)


def adjust(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with `p_adjusted` (Benjamini-Hochberg over those made, refused ones left
    out) and `significant` decided on it: adjusted p below 0.05 and the interval excluding 1."""
    out = list(comparisons)
    made = [
        (i, c.p_value, c.ci_low, c.ci_high)
        for i, c in enumerate(out)
        if c.ratio is not None and c.p_value is not None
        if c.ci_low is not None and c.ci_high is not None
    ]
    adjusted = benjamini_hochberg([float(p) for _, p, _, _ in made])
    for (i, _, low, high), q in zip(made, adjusted, strict=True):
        update = {"p_adjusted": round(q, 6), "significant": significant(q, low, high)}
        out[i] = out[i].model_copy(update=update)
    return out
