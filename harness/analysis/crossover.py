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
from typing import Any

from harness.analysis.ratios import values
from harness.process.protocol import THROUGHPUT
from harness.process.tasks import TASKS as TASK_SPECS

# The tasks whose FLOPs are counted per pair, and their default batches (their TaskSpecs).
TASKS = tuple(name for name, spec in TASK_SPECS.items() if spec.flop_per_pair)
DEFAULT_BATCH = {t: b for t in TASKS if (b := TASK_SPECS[t].default_batch) is not None}


def _median(measurement: Mapping[str, Any], key: str) -> float | None:
    """Median of a metric over the measured runs (ratios.values), None when none has it."""
    xs = list(values(measurement, key).values())
    return statistics.median(xs) if xs else None


def work_gflop(measurement: Mapping[str, Any]) -> float | None:
    """GFLOP of one timed call of this measurement (median over its measured runs)."""
    rate, gflops = _median(measurement, "pairs_per_s"), _median(measurement, "gflop_per_s")
    if not rate or not gflops:
        return None
    batch = measurement.get("params", {}).get("batch", DEFAULT_BATCH.get(measurement["task"], 1))
    return gflops / rate * float(batch)


# Model keys that change how the work is done, not how much of it there is: points that differ
# in them lie on different curves, never on one curve at the same work.
ALGORITHM_KEYS = ("model.conv",)


def series_key(values: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
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
    key["batch"] = task.get("params", {}).get("batch", DEFAULT_BATCH.get(task["task"], 1))
    return key


def describe(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in key.items())


def crossings(pts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Where the ratio crosses 1 between neighbours (sorted by work), log-log interpolated; the
    side the implementation wins on, and `clear`: both neighbours' 95% intervals exclude 1."""
    out = []
    for a, b in itertools.pairwise(pts):
        x0, r0, x1, r1 = a["work_gflop"], a["ratio"], b["work_gflop"], b["ratio"]
        if min(x0, r0, x1, r1) <= 0 or (r0 - 1) * (r1 - 1) >= 0 or math.isclose(x0, x1):
            continue  # no crossing, or two points of the same work: no size between them
        l0, l1 = math.log(r0), math.log(r1)
        x = math.exp(math.log(x0) + l0 / (l0 - l1) * (math.log(x1) - math.log(x0)))
        out.append(
            {
                "work_gflop": x,
                "between": [x0, x1],
                "faster": "below" if r0 > 1 else "above",
                "clear": _excludes_one(a) and _excludes_one(b),
            }
        )
    return out


def _excludes_one(p: Mapping[str, Any]) -> bool:
    lo, hi = p.get("ci_low"), p.get("ci_high")
    return lo is not None and hi is not None and (lo > 1 or hi < 1)


def sentence(
    impl: str, baseline: str, where: str, pts: list[dict[str, Any]], cross: list[dict[str, Any]]
) -> str:
    """One line: where `impl` is faster than `baseline` along one series."""
    if not pts:
        return f"{where}: no comparable points"
    lo, hi = pts[0], pts[-1]
    if math.isclose(lo["work_gflop"], hi["work_gflop"]):
        ratios = ", ".join(f"{p['ratio']:.2f}x" for p in pts)
        return (
            f"{where}: {impl} runs at {ratios} {baseline} at {fmt(lo['work_gflop'])} GFLOP per "
            "call (one work size: no crossover to find)"
        )
    span = (
        f"{lo['ratio']:.2f}x at {fmt(lo['work_gflop'])} to {hi['ratio']:.2f}x at "
        f"{fmt(hi['work_gflop'])} GFLOP per call"
    )
    if not cross:
        if all(p["ratio"] > 1 for p in pts):
            return f"{where}: {impl} is faster than {baseline} at every measured size ({span})"
        return f"{where}: {impl} is slower than {baseline} at every measured size ({span})"
    if len(cross) == 1:
        [c] = cross
        return (
            f"{where}: {impl} is faster {c['faster']} {fmt(c['work_gflop'])} GFLOP per call "
            f"({crossed(c)}) against {baseline} ({span})"
        )
    # several crossings: the ranges between them, each "faster" or "slower" in turn
    state = "faster" if cross[0]["faster"] == "below" else "slower"
    ranges = [f"{state} below {fmt(cross[0]['work_gflop'])}"]
    for a, b in itertools.pairwise(cross):
        state = "faster" if a["faster"] == "above" else "slower"
        ranges.append(f"{state} between {fmt(a['work_gflop'])} and {fmt(b['work_gflop'])}")
    state = "faster" if cross[-1]["faster"] == "above" else "slower"
    ranges.append(f"{state} above {fmt(cross[-1]['work_gflop'])} GFLOP per call")
    return (
        f"{where}: {impl} is "
        + ", ".join(ranges)
        + " ("
        + "; ".join(crossed(c) for c in cross)
        + f") against {baseline} ({span})"
    )


def crossed(c: Mapping[str, Any]) -> str:
    return f"1.0x crossed between {fmt(c['between'][0])} and {fmt(c['between'][1])}" + (
        "" if c["clear"] else ", within noise"
    )


def fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.3g}"
    return f"{x:.2g}"


def analyse(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `sweep.crossover` records of a sweep's results document."""
    sweep = doc.get("sweep") or {}
    values = {p["index"]: p["values"] for p in sweep.get("points", [])}
    peaks = best_peaks(sweep.get("points", []))
    comparisons = {
        (c["point"], c["task_index"], c["impl"]): c
        for c in doc.get("comparisons") or []
        if c.get("metric") == THROUGHPUT.get(c["task"], ("",))[0] and c.get("point") is not None
    }
    groups: dict[tuple[int, str], list[tuple[int, dict[str, Any]]]] = {}
    by_point: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for m in doc.get("measurements", []):
        if m.get("point") is None or m["task"] not in TASKS:
            continue
        by_point.setdefault((m["point"], m["task_index"]), []).append(m)
    baseline_of: dict[tuple[int, int], str] = {}
    for (point, index), ms in by_point.items():
        base = ms[0]
        cmp_base = next(
            (c["baseline"] for (p, i, _), c in comparisons.items() if (p, i) == (point, index)),
            None,
        )
        if cmp_base is not None:
            base = next((m for m in ms if m["impl"] == cmp_base), base)
        baseline_of[(point, index)] = base["impl"]
        key = series_key(values.get(point, {}), base)
        groups.setdefault((index, repr(sorted(key.items()))), []).append((point, key))
    out = []
    for (index, _), members in sorted(groups.items()):
        key = members[0][1]
        rows = []
        for point, _ in members:
            ms = by_point[(point, index)]
            base_id = baseline_of[(point, index)]
            base = next(m for m in ms if m["impl"] == base_id)
            work = work_gflop(base) or next((w for m in ms if (w := work_gflop(m))), None)
            if work is None:
                continue
            rows.append((work, point, ms, base_id))
        if not rows:
            continue
        rows.sort(key=lambda r: r[0])
        task = rows[0][2][0]["task"]
        where = f"{task} (task {index}{', ' + describe(key) if key else ''})"
        base_id = rows[0][3]
        impl_ids = [m["impl"] for m in rows[0][2]]
        per_point = [
            {
                "point": point,
                "values": values.get(point, {}),
                "work_gflop": work,
                "impls": {m["impl"]: point_figures(m, peaks.get(point, {})) for m in ms},
            }
            for work, point, ms, _ in rows
        ]
        record: dict[str, Any] = {
            "task": task,
            "task_index": index,
            "series": key,
            "baseline": base_id,
            "points": per_point,
            "impls": {},
            "summary": [],
        }
        smallest = rows[0]
        for impl in impl_ids:
            ops = next((m for m in smallest[2] if m["impl"] == impl), None)
            overhead = per_op_overhead(ops) if ops else None
            if impl == base_id:
                if overhead:
                    record["impls"][impl] = {"per_op": overhead}
                continue
            pts = []
            for work, point, _, _ in rows:
                c = comparisons.get((point, index, impl))
                if c and c.get("ratio"):
                    pts.append(
                        {
                            "point": point,
                            "work_gflop": work,
                            "ratio": c["ratio"],
                            "ci_low": c.get("ci_low"),
                            "ci_high": c.get("ci_high"),
                            "significant": c.get("significant"),
                        }
                    )
            cross = crossings(pts)
            text = sentence(impl, base_id, where, pts, cross)
            record["impls"][impl] = {"ratios": pts, "crossings": cross, "summary": text}
            if overhead:
                record["impls"][impl]["per_op"] = overhead
            record["summary"].append(text)
        one_size = math.isclose(rows[0][0], rows[-1][0])
        for impl, info in record["impls"].items():
            if "per_op" in info and not one_size:
                o = info["per_op"]
                record["summary"].append(
                    f"{where}: {impl} takes {o['us_per_op']:.1f} us per operator call at the "
                    f"smallest point ({o['ops_per_call']} operator calls in "
                    f"{1e3 * o['s_per_call']:.2f} ms per call; an upper bound on its "
                    "per-operation overhead)"
                )
        out.append(record)
    return out


def best_peaks(points: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per point index, the best FMA and SGEMM probe over the points run on the same machine."""
    machines: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        node = p.get("node") or {}
        machines.setdefault(str(node.get("node_id", "")), []).append(p)
    out: dict[int, dict[str, Any]] = {}
    for pts in machines.values():
        best: dict[str, Any] = {}
        for key in ("fma_peak_gflops", "sgemm_gflops"):
            found = [p[key] for p in pts if isinstance(p.get(key), (int, float))]
            best[key] = max(found) if found else None
        out.update({p["index"]: best for p in pts})
    return out


def point_figures(m: Mapping[str, Any], peaks: Mapping[str, Any]) -> dict[str, Any]:
    metric = THROUGHPUT.get(m["task"], ("pairs_per_s",))[0]
    gflops = _median(m, "gflop_per_s")
    summary = m.get("summary") or {}
    fma, sgemm = peaks.get("fma_peak_gflops"), peaks.get("sgemm_gflops")
    return {
        "throughput": _median(m, metric),
        "gflop_per_s": gflops,
        "share_of_fma_peak": gflops / fma if gflops and fma else None,
        "share_of_sgemm_peak": gflops / sgemm if gflops and sgemm else None,
        "peak_rss_bytes": (summary.get("peak_rss_bytes") or {}).get("median"),
    }


def per_op_overhead(m: Mapping[str, Any]) -> dict[str, Any] | None:
    ops, rate = _median(m, "ops_per_call"), _median(m, "pairs_per_s")
    if not ops or not rate:
        return None
    batch = m.get("params", {}).get("batch", DEFAULT_BATCH.get(m["task"], 1))
    seconds = float(batch) / rate
    return {"ops_per_call": int(ops), "s_per_call": seconds, "us_per_op": 1e6 * seconds / ops}
