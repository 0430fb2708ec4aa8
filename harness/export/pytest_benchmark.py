"""results.json measurements in pytest-benchmark's JSON format (its `--benchmark-json` file).

One benchmark per (task, implementation): `stats.data` are the wall seconds of the measured
runs (one round each, warmup excluded), with pytest-benchmark's statistics computed the way its
`Stats` class does (quartiles by its method, Tukey fences, `ops` = rounds / total). The
workload's own throughput, the peak RSS and the task parameters go into `extra_info` and
`params`. `machine_info` and `commit_info` carry the run's machine and git facts, so trend tools
that read pytest-benchmark files (`pytest-benchmark compare`, github-action-benchmark, ...) can
read harness runs.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from harness.results import Results, measured_runs

FILE_NAME = "pytest-benchmark.json"
FORMAT_VERSION = "5.1.0"  # the pytest-benchmark version whose file layout this follows


def quartiles(data: Sequence[float]) -> tuple[float, float]:
    """q1, q3 as pytest-benchmark computes them (Wikipedia's methods 2 and 3)."""
    xs = sorted(data)
    n = len(xs)
    if n == 1:
        return xs[0], xs[0]
    if n % 2 == 0:
        return statistics.median(xs[: n // 2]), statistics.median(xs[n // 2 :])
    k, q = n // 4, n % 4
    if q == 1:
        return 0.25 * xs[k - 1] + 0.75 * xs[k], 0.75 * xs[3 * k] + 0.25 * xs[3 * k + 1]
    return 0.75 * xs[k] + 0.25 * xs[k + 1], 0.25 * xs[3 * k + 1] + 0.75 * xs[3 * k + 2]


def stats(data: Sequence[float]) -> dict[str, Any]:
    xs = sorted(data)
    n = len(xs)
    mean = statistics.fmean(xs)
    stddev = statistics.stdev(xs) if n > 1 else 0
    q1, q3 = quartiles(xs)
    iqr = q3 - q1
    total = math.fsum(xs)
    stddev_outliers = sum(1 for x in xs if x < mean - stddev or x > mean + stddev)
    iqr_outliers = sum(1 for x in xs if x < q1 - 1.5 * iqr or x > q3 + 1.5 * iqr)
    return {
        "min": xs[0],
        "max": xs[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(xs),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": xs[0] if n == 1 else xs[bisect_left(xs, q1 - 1.5 * iqr)],
        "hd15iqr": xs[0] if n == 1 else xs[bisect_right(xs, q3 + 1.5 * iqr) - 1],
        "ops": n / total if total else 0,
        "total": total,
        "data": list(data),
        "iterations": 1,
    }


def machine_info(results: Results) -> dict[str, Any]:
    mach = results.machine
    return {
        "node": None,
        "processor": mach.cpu_model,
        "machine": None,
        "python_implementation": "CPython",
        "python_version": mach.python,
        "system": mach.os,
        "release": None,
        "cpu": {
            "brand_raw": mach.cpu_model,
            "count": mach.logical_cores,
            "flags": mach.cpu_flags or [],
        },
        "sgemm_gflops": mach.sgemm_gflops,
        "fma_peak_gflops": mach.fma_peak_gflops,
    }


def commit_info(results: Results) -> dict[str, Any]:
    mach = results.machine
    return {
        "id": mach.git_commit or "unversioned",
        "time": None,
        "author_time": None,
        "dirty": bool(mach.git_dirty),
        "project": "oneshot-bench",
        "branch": None,
    }


def sweep_values(results: Results, point: int | None) -> dict[str, Any]:
    """A sweep point's swept values (its measurements' params in the export), else {}."""
    if point is None or results.sweep is None:
        return {}
    return dict(results.sweep.points[point].values)


def export(results: Results) -> dict[str, Any]:
    benchmarks = []
    for m in results.measurements:
        runs = measured_runs(m)
        if not runs or m.summary is None:
            continue
        name = f"{m.task}[{m.impl}]"
        tp = m.summary.throughput
        point = sweep_values(results, m.point)
        at = "" if m.point is None else f"p{m.point:02d}::"
        benchmarks.append(
            {
                "group": f"{results.name}: {at}task {m.task_index} {m.task}",
                "name": name,
                "fullname": f"{results.name}::{at}t{m.task_index:02d}::{name}",
                "params": {"impl": m.impl, "task": m.task, **m.params, **point},
                "param": m.impl,
                "extra_info": {
                    "throughput_metric": tp.metric if tp else None,
                    "throughput_unit": tp.unit if tp else None,
                    "throughput_median": tp.median if tp else None,
                    "peak_rss_bytes_median": m.summary.peak_rss_bytes.median,
                    "warmup_runs": sum(1 for r in m.runs if r.warmup),
                    "failed_runs": m.summary.failed_runs,
                },
                "options": {
                    "disable_gc": False,
                    "timer": "harness wall clock (wait4)",
                    "min_rounds": len(runs),
                    "max_time": None,
                    "min_time": None,
                    "warmup": bool(results.config.get("warmup")),
                },
                "stats": stats([float(r.wall_s) for r in runs]),
            }
        )
    return {
        "machine_info": machine_info(results),
        "commit_info": commit_info(results),
        "benchmarks": benchmarks,
        "datetime": results.finished_utc or results.started_utc,
        "version": FORMAT_VERSION,
    }
