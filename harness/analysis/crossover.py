"""Where does one implementation overtake another? The crossover analysis of a sweep.

For every network task that reports `pairs_per_s` and `gflop_per_s` (forward, step, train), each
sweep point's work per call is `gflop_per_s / pairs_per_s * batch` of the baseline's median:
the GFLOP of one timed call (one forward batch, one training step), from the implementations'
own analytic counts (docs/protocol.md, "FLOPs"), so no formula is written twice. Points form one
series per task and per value of every swept key outside `model.` and of `model.conv` (a batch
of 32 and one of 128 are two curves, and so are the direct and the FFT convolution, which do the
same work differently); when only non-model keys are swept, all points form one series. A series
of one work size (a sweep over `model.conv` alone) says its ratios, with no crossover.

Along each series, sorted by work, the throughput ratio of each implementation to the baseline
(the run's `comparisons`, with their bootstrap intervals) is followed; where it crosses 1
between two neighbouring points the crossing's work is interpolated linearly in log(work) and
log(ratio). Each series gets one sentence ("rust-native is faster below 0.8 GFLOP per call
(step, batch 32)"), kept in `sweep.crossover[].summary`.

Per point the record also keeps each implementation's throughput, GFLOP/s, share of the
machine's FMA and SGEMM peaks and peak RSS, and, for an implementation that reports
`ops_per_call` (the operator calls of one timed call: python-torch), its time per operator call
at the series' smallest point: the seconds of one call divided by its operator calls, an upper
bound on the per-operation overhead (it still includes that call's arithmetic). The summary
states it only for a series of several work sizes: at one size (a sweep over `model.conv`) the
smallest point may be the paper network, and the bound says nothing.

The machine's peaks are the best probe of all the points run on it (`best_peaks`): every point
probes after its last job, and a probe whose second thread did not get its core for the probe's
second reads half the peak (seen: 234 against 433-463 GFLOP/s within one sweep), which would
double that point's share. Points of a cluster run are grouped by node; each point keeps its own
probe's figures in `sweep.points[]`.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.ratios import values
from harness.process.protocol import THROUGHPUT
from harness.process.tasks import TASKS as TASK_SPECS
from harness.results import (
    Comparison,
    Crossing,
    CrossoverImpl,
    CrossoverPoint,
    CrossoverRatio,
    CrossoverSeries,
    Measurement,
    PerOp,
    PointFigures,
    Results,
    SweepPoint,
)

# The tasks whose FLOPs are counted per pair, and their default batches (their TaskSpecs).
TASKS = tuple(name for name, spec in TASK_SPECS.items() if spec.flop_per_pair)
DEFAULT_BATCH = {t: b for t in TASKS if (b := TASK_SPECS[t].default_batch) is not None}


def _median(measurement: Measurement, key: str) -> float | None:
    """Median of a metric over the measured runs (ratios.values), None when none has it."""
    xs = list(values(measurement, key).values())
    return statistics.median(xs) if xs else None


def batch_of(measurement: Measurement) -> Any:
    """The measurement's batch: its params', else its task's default (1 without one)."""
    return measurement.params.get("batch", DEFAULT_BATCH.get(measurement.task, 1))


def work_gflop(measurement: Measurement) -> float | None:
    """GFLOP of one timed call of this measurement (median over its measured runs)."""
    rate, gflops = _median(measurement, "pairs_per_s"), _median(measurement, "gflop_per_s")
    if not rate or not gflops:
        return None
    return gflops / rate * float(batch_of(measurement))


# Model keys that change how the work is done, not how much of it there is: points that differ
# in them lie on different curves, never on one curve at the same work.
ALGORITHM_KEYS = ("model.conv",)


def series_key(values: Mapping[str, Any], task: Measurement) -> dict[str, Any]:
    """What tells the curves of one task apart: the swept keys outside `model.` and the model's
    algorithm keys (`model.conv`), and the batch."""
    model_swept = any(k.startswith("model.") for k in values)
    if not model_swept:
        return {}
    key = {
        k: v
        for k, v in values.items()
        if (not k.startswith("model.") or k in ALGORITHM_KEYS) and "batch" not in k
    }
    key["batch"] = batch_of(task)
    return key


def describe(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in key.items())


def crossings(pts: Sequence[CrossoverRatio]) -> list[Crossing]:
    """Where the ratio crosses 1 between neighbours (sorted by work), log-log interpolated; the
    side the implementation wins on, and `clear`: both neighbours' 95% intervals exclude 1."""
    out = []
    for a, b in itertools.pairwise(pts):
        x0, r0, x1, r1 = a.work_gflop, a.ratio, b.work_gflop, b.ratio
        if min(x0, r0, x1, r1) <= 0 or (r0 - 1) * (r1 - 1) >= 0 or math.isclose(x0, x1):
            continue  # no crossing, or two points of the same work: no size between them
        l0, l1 = math.log(r0), math.log(r1)
        x = math.exp(math.log(x0) + l0 / (l0 - l1) * (math.log(x1) - math.log(x0)))
        out.append(
            Crossing(
                work_gflop=x,
                between=[x0, x1],
                faster="below" if r0 > 1 else "above",
                clear=_excludes_one(a) and _excludes_one(b),
            )
        )
    return out


def _excludes_one(p: CrossoverRatio) -> bool:
    lo, hi = p.ci_low, p.ci_high
    return lo is not None and hi is not None and (lo > 1 or hi < 1)


def sentence(
    impl: str, baseline: str, where: str, pts: list[CrossoverRatio], cross: list[Crossing]
) -> str:
    """One line: where `impl` is faster than `baseline` along one series."""
    if not pts:
        return f"{where}: no comparable points"
    lo, hi = pts[0], pts[-1]
    if math.isclose(lo.work_gflop, hi.work_gflop):
        ratios = ", ".join(f"{p.ratio:.2f}x" for p in pts)
        return (
            f"{where}: {impl} runs at {ratios} {baseline} at {fmt(lo.work_gflop)} GFLOP per "
            "call (one work size: no crossover to find)"
        )
    span = (
        f"{lo.ratio:.2f}x at {fmt(lo.work_gflop)} to {hi.ratio:.2f}x at "
        f"{fmt(hi.work_gflop)} GFLOP per call"
    )
    if not cross:
        if all(p.ratio > 1 for p in pts):
            return f"{where}: {impl} is faster than {baseline} at every measured size ({span})"
        return f"{where}: {impl} is slower than {baseline} at every measured size ({span})"
    if len(cross) == 1:
        [c] = cross
        return (
            f"{where}: {impl} is faster {c.faster} {fmt(c.work_gflop)} GFLOP per call "
            f"({crossed(c)}) against {baseline} ({span})"
        )
    # several crossings: the ranges between them, each "faster" or "slower" in turn
    state = "faster" if cross[0].faster == "below" else "slower"
    ranges = [f"{state} below {fmt(cross[0].work_gflop)}"]
    for a, b in itertools.pairwise(cross):
        state = "faster" if a.faster == "above" else "slower"
        ranges.append(f"{state} between {fmt(a.work_gflop)} and {fmt(b.work_gflop)}")
    state = "faster" if cross[-1].faster == "above" else "slower"
    ranges.append(f"{state} above {fmt(cross[-1].work_gflop)} GFLOP per call")
    return (
        f"{where}: {impl} is "
        + ", ".join(ranges)
        + " ("
        + "; ".join(crossed(c) for c in cross)
        + f") against {baseline} ({span})"
    )


def crossed(c: Crossing) -> str:
    return f"1.0x crossed between {fmt(c.between[0])} and {fmt(c.between[1])}" + (
        "" if c.clear else ", within noise"
    )


def fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.3g}"
    return f"{x:.2g}"


PointKey = tuple[int, int]  # (sweep point, task index)
Comparisons = dict[tuple[int, int, str], Comparison]  # (point, task index, impl) -> throughput
Row = tuple[float, int, list[Measurement], str]  # (work per call, point, measurements, baseline)


def analyse(doc: Results) -> list[CrossoverSeries]:
    """The `sweep.crossover` records of a sweep's results document."""
    points = doc.sweep.points if doc.sweep else []
    swept = {p.index: p.values for p in points}
    peaks = best_peaks(points)
    comparisons: Comparisons = {
        (c.point, c.task_index, c.impl): c
        for c in doc.comparisons or []
        if c.metric == THROUGHPUT.get(c.task, ("",))[0] and c.point is not None
    }
    by_point: dict[PointKey, list[Measurement]] = {}
    for m in doc.measurements:
        if m.point is not None and m.task in TASKS:
            by_point.setdefault((m.point, m.task_index), []).append(m)
    groups: dict[tuple[int, str], list[tuple[int, dict[str, Any], str]]] = {}
    for (point, index), ms in by_point.items():
        base = ms[0]
        cmp_base = next(
            (c.baseline for (p, i, _), c in comparisons.items() if (p, i) == (point, index)),
            None,
        )
        if cmp_base is not None:
            base = next((m for m in ms if m.impl == cmp_base), base)
        key = series_key(swept.get(point, {}), base)
        groups.setdefault((index, repr(sorted(key.items()))), []).append((point, key, base.impl))
    out = []
    for (index, _), members in sorted(groups.items()):
        rows: list[Row] = []
        for point, _, base_id in members:
            ms = by_point[(point, index)]
            base = next(m for m in ms if m.impl == base_id)
            work = work_gflop(base) or next((w for m in ms if (w := work_gflop(m))), None)
            if work is not None:
                rows.append((work, point, ms, base_id))
        if rows:
            rows.sort(key=lambda r: r[0])
            out.append(one_series(index, members[0][1], rows, comparisons, swept, peaks))
    return out


def one_series(
    index: int,
    key: dict[str, Any],
    rows: list[Row],
    comparisons: Comparisons,
    swept: Mapping[int, dict[str, Any]],
    peaks: Mapping[int, Peaks],
) -> CrossoverSeries:
    """The record of one series of one task: its points by work, each implementation along it."""
    task = rows[0][2][0].task
    where = f"{task} (task {index}{', ' + describe(key) if key else ''})"
    base_id = rows[0][3]
    per_point = [
        CrossoverPoint(
            point=point,
            values=swept.get(point, {}),
            work_gflop=work,
            impls={m.impl: point_figures(m, peaks.get(point, Peaks())) for m in ms},
        )
        for work, point, ms, _ in rows
    ]
    impls: dict[str, CrossoverImpl] = {}
    summary: list[str] = []
    for impl in [m.impl for m in rows[0][2]]:
        ops = next((m for m in rows[0][2] if m.impl == impl), None)
        overhead = per_op_overhead(ops) if ops else None
        if impl == base_id:
            if overhead is not None:
                impls[impl] = CrossoverImpl(per_op=overhead)
            continue
        pts = [
            CrossoverRatio(
                point=point,
                work_gflop=work,
                ratio=c.ratio,
                ci_low=c.ci_low,
                ci_high=c.ci_high,
                significant=c.significant,
            )
            for work, point, _, _ in rows
            if (c := comparisons.get((point, index, impl))) and c.ratio
        ]
        cross = crossings(pts)
        text = sentence(impl, base_id, where, pts, cross)
        impls[impl] = CrossoverImpl(ratios=pts, crossings=cross, summary=text)
        if overhead is not None:
            impls[impl] = impls[impl].model_copy(update={"per_op": overhead})
        summary.append(text)
    if not math.isclose(rows[0][0], rows[-1][0]):
        for impl, info in impls.items():
            if (o := info.per_op) is not None:
                summary.append(
                    f"{where}: {impl} takes {o.us_per_op:.1f} us per operator call at the "
                    f"smallest point ({o.ops_per_call} operator calls in "
                    f"{1e3 * o.s_per_call:.2f} ms per call; an upper bound on its "
                    "per-operation overhead)"
                )
    return CrossoverSeries(
        task=task,
        task_index=index,
        series=key,
        baseline=base_id,
        points=per_point,
        impls=impls,
        summary=summary,
    )


@dataclass(frozen=True)
class Peaks:
    """A machine's best probes in GFLOP/s (None: never measured)."""

    fma_peak_gflops: float | None = None
    sgemm_gflops: float | None = None


def best_peaks(points: Sequence[SweepPoint]) -> dict[int, Peaks]:
    """Per point index, the best FMA and SGEMM probe over the points run on the same machine."""
    machines: dict[str, list[SweepPoint]] = {}
    for p in points:
        machines.setdefault(p.node.node_id if p.node else "", []).append(p)
    out: dict[int, Peaks] = {}
    for pts in machines.values():
        fma = [float(p.fma_peak_gflops) for p in pts if p.fma_peak_gflops is not None]
        sgemm = [float(p.sgemm_gflops) for p in pts if p.sgemm_gflops is not None]
        best = Peaks(max(fma) if fma else None, max(sgemm) if sgemm else None)
        out.update({p.index: best for p in pts})
    return out


def point_figures(m: Measurement, peaks: Peaks) -> PointFigures:
    metric = THROUGHPUT.get(m.task, ("pairs_per_s",))[0]
    gflops = _median(m, "gflop_per_s")
    fma, sgemm = peaks.fma_peak_gflops, peaks.sgemm_gflops
    return PointFigures(
        throughput=_median(m, metric),
        gflop_per_s=gflops,
        share_of_fma_peak=gflops / fma if gflops and fma else None,
        share_of_sgemm_peak=gflops / sgemm if gflops and sgemm else None,
        peak_rss_bytes=m.summary.peak_rss_bytes.median if m.summary else None,
    )


def per_op_overhead(m: Measurement) -> PerOp | None:
    ops, rate = _median(m, "ops_per_call"), _median(m, "pairs_per_s")
    if not ops or not rate:
        return None
    seconds = float(batch_of(m)) / rate
    return PerOp(ops_per_call=int(ops), s_per_call=seconds, us_per_op=1e6 * seconds / ops)
