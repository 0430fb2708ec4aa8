"""The report of a sweep (harness/run/sweep.py): crossover verdicts, a table of every point, and
per series the crossover plot: throughput and ratio to the baseline against the work per call.

html.py and markdown.py hand a document with `sweep` to `tables` and `plots` here instead of
the single-run ones; each point's folder keeps its own ordinary report.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from harness.report.plots import Plot, png
from harness.report.tables import Table, machine, mib, num, share
from harness.results import (
    CrossoverImpl,
    CrossoverPoint,
    CrossoverSeries,
    NodeInfo,
    Results,
    SweepPoint,
)


def _crossover(results: Results) -> list[CrossoverSeries]:
    return list(results.sweep.crossover or []) if results.sweep else []


def verdicts(results: Results) -> Table:
    rows = [
        [r.task, str(r.task_index), _series(r), line]
        for r in _crossover(results)
        for line in r.summary
    ]
    return Table(
        "Crossover: where each implementation overtakes the baseline",
        ["task", "index", "series", "verdict"],
        rows,
        "Work per call: GFLOP of one timed call (a forward batch, a training step), from the "
        "implementations' analytic counts. Ratios: throughput against the baseline, medians with "
        "95% bootstrap intervals; a crossing is interpolated in log-log between neighbouring "
        "points and marked `within noise` when either neighbour's interval holds 1.",
        id="crossover",
    )


def _series(record: CrossoverSeries) -> str:
    return ", ".join(f"{k} {v}" for k, v in record.series.items()) or "all points"


def points(results: Results) -> Table:
    assert results.sweep is not None
    checks: dict[int, list[str]] = {}
    for c in results.checks:
        if c.point is not None:
            checks.setdefault(c.point, []).append(c.name if c.ok else f"{c.name} FAIL")
    rows = []
    for record in _crossover(results):
        base = record.baseline
        ratios = {
            (impl, r.point): r for impl, info in record.impls.items() for r in info.ratios or []
        }
        for p in record.points:
            for impl, fig in p.impls.items():
                r = ratios.get((impl, p.point))
                rows.append(
                    [
                        str(p.point),
                        ", ".join(f"{k}={v}" for k, v in p.values.items()),
                        f"{record.task_index}: {record.task}",
                        num(p.work_gflop),
                        impl,
                        num(fig.throughput),
                        "baseline"
                        if impl == base
                        else (f"{r.ratio:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if r else ""),
                        num(fig.gflop_per_s),
                        share(fig.share_of_fma_peak),
                        mib(fig.peak_rss_bytes),
                    ]
                )
    states = ", ".join(
        f"{p.index}: {p.status}" for p in results.sweep.points if p.status != "complete"
    )
    note = "Each point's own report: points/NN/report.html."
    if states:
        note += f" Points not complete: {states}."
    failed = [
        f"point {i}: {', '.join(v)}" for i, v in checks.items() if any("FAIL" in x for x in v)
    ]
    if failed:
        note += " Failed checks: " + "; ".join(failed) + "."
    return Table(
        "Every point",
        [
            "point",
            "values",
            "task",
            "GFLOP per call",
            "impl",
            "pairs/s",
            "ratio [95% CI]",
            "GFLOP/s",
            "FMA peak",
            "peak RSS",
        ],
        rows,
        note,
        id="points",
    )


def by_machine(results: Results) -> Table | None:
    """The points grouped by the cluster node each ran on, when they ran on several."""
    assert results.sweep is not None
    groups: dict[str, list[tuple[SweepPoint, NodeInfo]]] = {}
    for p in results.sweep.points:
        if p.node is not None:
            groups.setdefault(str(p.node.node_id), []).append((p, p.node))
    if len(groups) < 2:
        return None
    rows = []
    for node_id, pts in groups.items():
        node = pts[0][1]
        sgemm = [p.sgemm_gflops for p, _ in pts if p.sgemm_gflops is not None]
        fma = [p.fma_peak_gflops for p, _ in pts if p.fma_peak_gflops is not None]
        rows.append(
            [
                f"{node.hostname} {node.ip} ({node_id[:8]})",
                str(node.cpu_model),
                f"{node.logical_cores} logical, {node.physical_cores} physical",
                mib(node.memory_bytes),
                ", ".join(str(p.index) for p, _ in pts),
                _span(sgemm),
                _span(fma),
            ]
        )
    kinds = {str(pts[0][1].cpu_model) for pts in groups.values()}
    note = (
        "The points ran on several cluster nodes (docs/cluster.md): ratios compare "
        "implementations on one node within a point; "
        + (
            "the nodes have one CPU model, so absolute figures compare across points as far as "
            "the peaks agree."
            if len(kinds) == 1
            else f"{len(kinds)} CPU models: absolute figures of points on different models are "
            "different machines, not a trend."
        )
    )
    return Table(
        "Points by machine",
        ["node", "CPU", "cores", "memory", "points", "SGEMM GFLOP/s", "FMA peak GFLOP/s"],
        rows,
        note,
        id="machines",
    )


def _throughput(point: CrossoverPoint, impl: str) -> float | None:
    """An implementation's throughput at a crossover point (None: not measured there)."""
    fig = point.impls.get(impl)
    return None if fig is None or fig.throughput is None else float(fig.throughput)


def _span(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return num(lo) if lo == hi else f"{num(lo)} to {num(hi)}"


def tables(results: Results) -> list[Table]:
    from harness.report.serving import serving_tables

    grouped = by_machine(results)
    return [
        verdicts(results),
        points(results),
        *([grouped] if grouped else []),
        *serving_tables(results),
        machine(results),
    ]


def plots(results: Results, run_dir: Path) -> list[Plot]:
    from harness.report.serving import cdf_plots

    out = cdf_plots(results, run_dir)
    for record in _crossover(results):
        xs = [p.work_gflop for p in record.points]
        impls = list(record.points[0].impls) if record.points else []
        fig, (ax_tp, ax_r) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        for i, impl in enumerate(impls):
            ys = [_throughput(p, impl) for p in record.points]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y]
            if pts:
                ax_tp.plot(
                    [x for x, _ in pts], [y for _, y in pts], "o-", color=f"C{i}", label=impl
                )
            info = record.impls.get(impl) or CrossoverImpl()
            ratios = info.ratios or []
            if ratios:
                rx = [r.work_gflop for r in ratios]
                ax_r.plot(rx, [r.ratio for r in ratios], "o-", color=f"C{i}", label=impl)
                ax_r.fill_between(
                    rx,
                    [r.ci_low for r in ratios],
                    [r.ci_high for r in ratios],
                    color=f"C{i}",
                    alpha=0.2,
                )
                for c in info.crossings or []:
                    ax_r.axvline(c.work_gflop, color=f"C{i}", linestyle=":")
                    ax_r.annotate(
                        f"{num(c.work_gflop)} GFLOP",
                        (c.work_gflop, 1.0),
                        textcoords="offset points",
                        xytext=(4, 6),
                        fontsize=8,
                        color=f"C{i}",
                    )
        ax_r.axhline(1.0, color="black", linewidth=0.8)
        ax_tp.set_xscale("log")
        ax_tp.set_yscale("log")
        ax_tp.set_ylabel("pairs/s (median)")
        ax_tp.legend(fontsize=8)
        ax_r.set_ylabel(f"throughput / {record.baseline}")
        ax_r.set_xlabel("work per call (GFLOP, log)")
        ax_r.legend(fontsize=8)
        title = f"task {record.task_index}: {record.task}, {_series(record)}"
        ax_tp.set_title(title, fontsize=10)
        out.append(
            Plot(
                f"Crossover {record.task_index} {_series(record)}",
                png(fig),
                f"Throughput and ratio to {record.baseline} against the work per call, {title}",
            )
        )
    return out
