"""Trained models: time to a target accuracy, MLPerf style, and verdicts over several trainings.

Two float32 trainings from the same start drift apart chaotically, so one training's accuracy
is one draw from a distribution (docs/correctness.md). This module judges distributions:

- `curves`: per measured `train` run, the validation accuracy against the wall seconds since the
  first data touched (the `val_accuracy` metric events against the start of the `load` phase,
  both on the harness's clock), and the time until it first reached the task's
  `quality_target` (MLPerf's time to train: validation time included, the clock never pauses).
- `analyse`: `results.quality[]`, one record per `train` task: per implementation every run's
  curve, time to target, best validation accuracy and the accuracies its weights scored in the
  later `evaluate` tasks with `weights: trained` (the run of the same repeat), with medians and,
  from 5 runs on, MLPerf's mean without the fastest and slowest run.
- `trained_accuracy_check`: the `accuracy` check of models each implementation trained itself
  (a `train` task, or `evaluate` with `weights: trained`): the accuracies of every measured run
  of both, compared as two independent samples (the ratio of medians with a bootstrap interval
  and a Mann-Whitney test, analysis/stats.py). It fails only on a significant difference; with
  fewer than 2 runs on either side it passes with the figures as a report line, since one
  training each says nothing about the implementations (train with `repeats` >= 3 and
  `vary_seed: true`; 5 or more runs each are needed before the rank test can be significant).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.stats import compare_samples, summarize
from harness.process.runner import read_event_log
from harness.results import (
    Measurement,
    Quality,
    QualityEvaluation,
    QualityImpl,
    QualityRun,
    QualitySummary,
    Results,
    Run,
    Stat,
    measured_runs,
)

MIN_RUNS_FOR_VERDICT = 2
OLYMPIC_MIN_RUNS = 5  # MLPerf drops the fastest and the slowest of 5 or more runs


def curve(job_dir: Path) -> list[tuple[float, float]]:
    """(seconds since the first data touched, validation accuracy) of one train job."""
    start: float | None = None
    points: list[tuple[float, float]] = []
    for e in read_event_log(job_dir / "events.jsonl"):
        t = e.get("t_harness_s")
        if not isinstance(t, int | float):
            continue
        begins = e.get("event") == "phase" and e.get("state") == "begin"
        if begins and start is None and e.get("name") in ("load", "train"):
            start = float(t)
        if e.get("event") == "metric" and e.get("name") == "val_accuracy":
            value = e.get("value")
            if isinstance(value, int | float):
                points.append((float(t), float(value)))
    origin = start if start is not None else 0.0
    return [(t - origin, v) for t, v in points]


def time_to_target(points: Sequence[tuple[float, float]], target: float | None) -> float | None:
    if target is None:
        return None
    return next((t for t, acc in points if acc >= target), None)


def accuracy_of(run: Run, task: str) -> float | None:
    key = "best_val_accuracy" if task == "train" else "accuracy"
    value = run.metrics.get(key)
    return float(value) if isinstance(value, int | float) else None


def olympic_mean(values: Sequence[float]) -> float | None:
    """MLPerf's score of n >= 5 runs: the mean without the fastest and the slowest."""
    if len(values) < OLYMPIC_MIN_RUNS:
        return None
    kept = sorted(values)[1:-1]
    return sum(kept) / len(kept)


def _stats(values: Sequence[float]) -> Stat | None:
    """median, iqr, min, max and n (stats.summarize), None for no values."""
    return summarize(values) if values else None


def analyse(results: Results, tasks: Sequence[Any], run_dir: Path) -> list[Quality]:
    """`results.quality`: one record per train task (`tasks`: the config's TaskConfig list)."""
    out: list[Quality] = []
    for index, task in enumerate(tasks):
        if task.name != "train":
            continue
        later = [
            i
            for i in range(index + 1, len(tasks))
            if tasks[i].name == "evaluate" and tasks[i].weights == "trained"
        ]
        later = [i for i in later if not any(tasks[j].name == "train" for j in range(index + 1, i))]
        impls = {
            m.impl: trainings(results, m, later, task.quality_target, run_dir)
            for m in results.measurements
            if m.task_index == index
        }
        evaluations = [
            QualityEvaluation(task_index=i, protocol=tasks[i].params.get("protocol", "koch"))
            for i in later
        ]
        out.append(
            Quality(
                task_index=index,
                target=task.quality_target,
                evaluations=evaluations,
                impls=impls,
            )
        )
    return out


def trainings(
    results: Results, m: Measurement, later: list[int], target: float | None, run_dir: Path
) -> QualityImpl:
    """One implementation's measured trainings of a train task, and their summary."""
    evals = {i: _by_repeat(results, m.impl, i) for i in later}
    runs = []
    for run in measured_runs(m):
        points = curve(run_dir / run.dir)
        runs.append(
            QualityRun(
                repeat=run.repeat,
                seed=run.seed,
                curve=[[round(t, 3), v] for t, v in points],
                time_to_target_s=time_to_target(points, target),
                best_val_accuracy=accuracy_of(run, "train"),
                train_pairs=run.metrics.get("train_pairs"),
                wall_s=run.metrics.get("wall_s"),
                evaluations={
                    str(i): accuracy_of(evals[i][run.repeat], "evaluate")
                    if run.repeat in evals[i]
                    else None
                    for i in later
                },
            )
        )
    reached = [r.time_to_target_s for r in runs if r.time_to_target_s is not None]
    summary = QualitySummary(
        runs=len(runs),
        reached_target=len(reached) if target is not None else None,
        time_to_target_s=_stats(reached),
        time_to_target_olympic_s=olympic_mean(reached) if len(reached) == len(runs) else None,
        best_val_accuracy=_stats(
            [r.best_val_accuracy for r in runs if r.best_val_accuracy is not None]
        ),
        evaluations={
            str(i): _stats([v for r in runs if (v := r.evaluations[str(i)]) is not None])
            for i in later
        },
    )
    return QualityImpl(runs=runs, summary=summary)


def _by_repeat(results: Results, impl: str, index: int) -> dict[int, Run]:
    for m in results.measurements:
        if m.impl == impl and m.task_index == index:
            return {r.repeat: r for r in measured_runs(m)}
    return {}


def trained_accuracy_check(
    base: Measurement, other: Measurement
) -> tuple[float, str, bool | None] | None:
    """The `accuracy` check of two implementations' own trained models, over all their runs."""
    task = base.task
    a = [v for r in measured_runs(base) if (v := accuracy_of(r, task)) is not None]
    b = [v for r in measured_runs(other) if (v := accuracy_of(r, task)) is not None]
    if not a or not b:
        return None
    ma, mb = statistics.median(a), statistics.median(b)
    diff = ma - mb
    figures = f"median {ma:.4f} ({_range(a)}) vs {mb:.4f} ({_range(b)}); difference {diff:+.4f}"
    if min(len(a), len(b)) < MIN_RUNS_FOR_VERDICT:
        return (
            diff,
            (
                f"{figures}; {len(a)} vs {len(b)} training(s): a report line, not a verdict "
                "(trained models vary from training to training; train each several times: "
                "repeats >= 3 with vary_seed: true)"
            ),
            True,
        )
    interval = compare_samples(a, b, paired=False)
    significant = interval.significant()
    verdict = "significantly different" if significant else "no significant difference"
    return (
        diff,
        (
            f"{figures}; ratio {interval.ratio:.3f} "
            f"[{interval.ci_low:.3f}, {interval.ci_high:.3f}], "
            f"Mann-Whitney p {interval.p_value:.3f} "
            f"over {len(a)} and {len(b)} trainings: {verdict}"
        ),
        not significant,
    )


def _range(values: Sequence[float]) -> str:
    if len(values) == 1:
        return "1 run"
    return f"{len(values)} runs, {min(values):.4f}-{max(values):.4f}"
