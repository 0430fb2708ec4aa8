"""The report's serving section (results `serving[]`, analysis/serving.py): one latency table
and one footprint table, and a latency-CDF plot per serve task (log axis), every
implementation's pooled measured queries overlaid."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from harness.analysis.serving import SERVE_FILE, read_serve
from harness.report.plots import Plot, png
from harness.report.tables import Table, mib, num
from harness.results import Results, Serving

LATENCY_HEADERS = [
    "task", "implementation", "queries", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99/p50",
    "accuracy %", "answers as float64",
]  # fmt: skip
FOOTPRINT_HEADERS = [
    "task", "implementation", "cold start ms", "cold query ms", "enrol ms", "setup ms",
    "steady RSS", "peak RSS", "idle CPU", "ship", "executable stripped",
]  # fmt: skip


def ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.3g}"


def _where(s: Serving) -> str:
    point = "" if s.point is None else f"point {s.point}, "
    cache = ""
    if s.page_cache == "evict":
        stayed = "" if s.resident_share is None else f", {100 * s.resident_share:.0f}% stayed"
        cache = f", page cache evicted{stayed}"
    return f"{point}task {s.task_index} ({s.arrival}, {s.threads} threads{cache})"


def _quantile(s: Serving, i: int) -> str:
    q = s.latency[i]
    if q.upper_s is None:
        return f"{ms(q.value_s)} (bound needs {q.queries_needed} queries)"
    return f"{ms(q.value_s)} [<= {ms(q.upper_s)}]"


def _agrees(s: Serving) -> str:
    if s.agrees is None:
        return "not judged"
    if s.agrees:
        excused = f", {s.ties_excused} near-ties" if s.ties_excused else ""
        return f"yes{excused}"
    return f"NO: {s.disagreements} differ (figures do not count)"


def latency_table(results: Results) -> Table:
    rows = [
        [
            _where(s),
            s.impl,
            str(s.queries),
            _quantile(s, 0),
            _quantile(s, 1),
            _quantile(s, 2),
            ms(s.latency_max_s),
            num(s.p99_over_p50),
            num(None if s.accuracy is None else 100 * s.accuracy, 3),
            _agrees(s),
        ]
        for s in results.serving or []
    ]
    return Table(
        "Serving: latency of one query at a time",
        LATENCY_HEADERS,
        rows,
        "Latency from a query's arrival to its answer (one image embedded in a call of one, "
        "scored against the episode's cached support embeddings), pooled over the measured "
        "queries of every measured run. Nearest-rank percentiles; in brackets the one-sided 99% "
        "upper confidence bound (the order statistic that bounds the true percentile: MLPerf "
        "Inference's early-stopping rule, docs/reports.md). Answers: every query's answer "
        "against float64's, near-ties (float64 margin <= 1e-3 of the best logit) excused.",
        id="serving",
    )


def footprint_table(results: Results) -> Table:
    rows = [
        [
            _where(s),
            s.impl,
            ms(s.cold_start_s),
            ms(s.cold_query_s),
            ms(s.enrol_s),
            ms(s.setup_s),
            mib(s.steady_rss_bytes),
            mib(s.peak_rss_bytes),
            "-" if s.idle_cpu_fraction is None else f"{100 * s.idle_cpu_fraction:.2f}%",
            "-" if s.ship_bytes is None else f"{mib(s.ship_bytes)} in {s.ship_files} files",
            mib(s.executable_bytes),
        ]
        for s in results.serving or []
    ]
    return Table(
        "Serving: cold start and footprint",
        FOOTPRINT_HEADERS,
        rows,
        "Cold start: exec to the first answer (the harness's clock; the page cache warm, or "
        "evicted where the task says so), median over runs; the cold query's own latency; a "
        "warm enrolment of the episode's support images in one call; setup (weights read, "
        "network built; Python: the framework imported). Steady RSS: the program's VmRSS after "
        "its warm-up queries; peak RSS: the kernel's. Idle CPU: CPU seconds per idle second "
        "between Poisson arrivals (a spinning thread pool shows here). Ship: every regular file"
        " the job mapped at its first answer (executable, shared libraries, memory-mapped "
        "weights), sizes on disk; the executable alone stripped of symbols (for Python, the "
        "interpreter).",
        id="serving-footprint",
    )


def serving_tables(results: Results) -> list[Table]:
    return [latency_table(results), footprint_table(results)] if results.serving else []


def cdf_plots(results: Results, run_dir: Path) -> list[Plot]:
    """Per serve task (and point), the latency CDF of each implementation, log x axis."""
    groups: dict[tuple[int | None, int], list[Serving]] = {}
    for s in results.serving or []:
        groups.setdefault((s.point, s.task_index), []).append(s)
    plots = []
    for (point, index), group in groups.items():
        fig, ax = plt.subplots(figsize=(7, 3.8))
        drawn = 0
        for i, s in enumerate(group):
            latencies = _latencies(results, run_dir, s)
            if not latencies:
                continue
            ys = [(k + 1) / len(latencies) for k in range(len(latencies))]
            ax.step([1000 * x for x in latencies], ys, where="post", color=f"C{i}", label=s.impl)
            drawn += 1
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("share of queries")
        ax.legend(fontsize=8)
        title = f"{_where(group[0])}: latency CDF of the measured queries"
        ax.set_title(title, fontsize=10)
        key = f"{point}-{index}" if point is not None else str(index)
        plots.append(Plot(f"Latency {key}", png(fig), f"Latency CDF, {title}"))
    return plots


def _latencies(results: Results, run_dir: Path, s: Serving) -> list[float]:
    out: list[float] = []
    for m in results.measurements:
        if (m.impl, m.task_index, m.point) != (s.impl, s.task_index, s.point):
            continue
        for run in m.runs:
            if run.measured:
                try:
                    answers = read_serve(run_dir / run.dir / SERVE_FILE)
                except (OSError, ValueError):
                    continue
                out += [a.latency_s for a in answers if a.phase == "measured"]
    return sorted(out)
