"""The report's tables, built once from the typed results document and rendered by every format.

Each table is a `Table(title, headers, rows, note)` of plain strings, so markdown.py and html.py
only lay them out: throughput per implementation and task (median, IQR, range, ratio to the
baseline with its interval), comparisons of every figure, checks, roofline, phases, accuracy,
and the machine and software facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.analysis.verdicts import LEVEL_BAND, label
from harness.results import (
    Check,
    Comparison,
    FmaProbe,
    Machine,
    Measurement,
    Results,
    SgemmProbe,
    Stat,
    measured_runs,
)


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    id: str = field(default="")


def num(x: float | None, digits: int = 3) -> str:
    """A number with `digits` significant figures and thousands separators; '' for None."""
    if x is None:
        return ""
    if x == 0 or abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    return f"{x:,.{digits}g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def mib(x: float | None) -> str:
    return "" if x is None else f"{x / 2**20:,.1f} MiB"


def ratio_text(c: Comparison) -> str:
    """The ratio and its interval ('refused' when the figures were not compared)."""
    if c.ratio is None:
        return "refused"
    return f"{c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"


def verdict(c: Comparison) -> str:
    """The comparison's label (analysis/verdicts.py): faster, level, not settled, ..."""
    return label(c)


def p_text(p: float | None) -> str:
    return "" if p is None else f"{p:.3f}"


def delta_text(d: float | None) -> str:
    return "" if d is None else f"{d:+.2f}"


def metric_median(m: Measurement, name: str) -> float | None:
    """Median of a scalar metric over the measured runs of a measurement; None when absent."""
    values = sorted(
        float(v) for r in measured_runs(m) if isinstance(v := r.metrics.get(name), int | float)
    )
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def cold_start(m: Measurement) -> tuple[str, str]:
    """The first iteration's latency and the compile time, as table cells ('' when absent)."""
    first, compile_s = metric_median(m, "first_batch_s"), metric_median(m, "compile_s")
    return (
        "" if first is None else f"{num(first)} s",
        "" if compile_s is None else f"{num(compile_s)} s",
    )


def not_implemented(results: Results, index: int, label: str) -> list[list[str]]:
    """Rows for the implementations of the run with no measurement of task `index`: their
    manifest's `tasks:` leaves it out (harness/process/impls.py), so they were never run."""
    ran = {m.impl for m in results.measurements if m.task_index == index}
    return [
        [label, impl, "not implemented", "", "", "", "", "", "", "", "0"]
        for impl in results.implementations
        if impl not in ran
    ]


def throughput(results: Results) -> Table:
    comps = {
        (c.task_index, c.impl): c
        for c in results.comparisons or []
        if c.metric not in ("wall_s", "cpu_s", "peak_rss_bytes", "gflop_per_s")
    }
    rows = []
    for k, m in enumerate(results.measurements):
        s = m.summary
        label = f"{m.task_index}: {m.task}"
        before = results.measurements[k - 1] if k else None
        if before is not None and before.task_index != m.task_index:  # the last task's below
            rows += not_implemented(
                results, before.task_index, f"{before.task_index}: {before.task}"
            )
        if not s:
            rows.append([label, m.impl, "failed", "", "", "", "", "", "", "", f"0/{len(m.runs)}"])
            continue
        tp = s.throughput
        c = comps.get((m.task_index, m.impl))
        rows.append(
            [
                label,
                m.impl,
                f"{num(tp.median)} {tp.unit}" if tp else "",
                num(tp.iqr) if tp else "",
                f"{num(tp.min)} - {num(tp.max)}" if tp else "",
                ratio_text(c) if c else ("baseline" if tp else ""),
                *cold_start(m),
                num(s.wall_s.median),
                mib(s.peak_rss_bytes.median),
                str(s.runs),
            ]
        )
    if results.measurements:
        last = results.measurements[-1]
        rows += not_implemented(results, last.task_index, f"{last.task_index}: {last.task}")
    return Table(
        "Throughput",
        ["task", "impl", "median", "IQR", "min - max", "ratio to baseline [95% CI]",
         "first batch", "compile", "wall s", "peak RSS", "runs"],
        rows,
        "Medians of the measured runs (warmup excluded); throughput is steady state (warm-up "
        "calls inside each job excluded, docs/protocol.md); first batch = the first call's "
        "latency, compile = JIT compile time, both outside the steady-state figure; ratio = "
        "impl / baseline of medians with a bootstrap 95% interval of runs paired A B A B.",
        "throughput",
    )  # fmt: skip


def comparisons(results: Results) -> Table:
    rows = [
        [
            f"{c.task_index}: {c.task}",
            f"{c.impl} / {c.baseline}",
            c.metric,
            ratio_text(c),
            p_text(c.p_value),
            p_text(c.p_adjusted),
            delta_text(c.cliffs_delta),
            verdict(c),
            c.warning or "",
        ]
        for c in results.comparisons or []
    ]
    return Table(
        "Comparisons",
        ["task", "impl / baseline", "figure", "ratio [95% CI]", "p", "p adjusted",
         "Cliff's delta", "verdict", "warning"],
        rows,
        "p: Mann-Whitney; p adjusted: Benjamini-Hochberg over every comparison of the run (the "
        "false discovery rate); Cliff's delta: P(impl > baseline) - P(impl < baseline) over pairs "
        "of runs, from -1 to 1. faster / slower / less or more memory: the adjusted p < 0.05 and "
        "the interval excludes 1, no spread warning; level: not that, and the interval inside "
        f"[{LEVEL_BAND[0]}, {LEVEL_BAND[1]}]; not settled: a spread warning, or a wider interval.",
        "comparisons",
    )  # fmt: skip


def _f64(check: Check) -> str:
    """Each implementation's error from float64 and the limit it was judged against."""
    if not check.f64_errors:
        return ""
    errors = ", ".join(f"{impl} {num(float(err), 2)}" for impl, err in check.f64_errors.items())
    return f"{errors} (limit {num(float(check.f64_tolerance or 0.0), 2)})"


def checks(results: Results) -> Table:
    rows = [
        [
            c.name,
            " vs ".join(c.impls),
            "" if c.value is None else num(float(c.value), 4),
            num(float(c.tolerance or 0.0), 4),
            _f64(c),
            "ok" if c.ok else "FAIL",
            c.detail,
        ]
        for c in results.checks
    ]
    return Table(
        "Checks",
        ["check", "impls", "value", "tolerance", "vs float64", "verdict", "detail"],
        rows,
        "vs float64: each implementation's relative error from a float64 recomputation of the same "
        "inputs (forward, gradients; docs/correctness.md).",
        "checks",
    )


def share(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def roofline(results: Results) -> Table:
    roof = results.roofline
    sgemm = results.machine.sgemm or SgemmProbe()
    peak = results.machine.sgemm_gflops
    rows = [
        [f"{t.task_index}: {t.task}", t.impl, num(t.gflop_per_s), share(t.share_of_peak),
         share(t.share_of_fma_peak)]
        for t in (roof.tasks if roof else [])
    ]  # fmt: skip
    if peak:
        kernels = ", ".join(
            " ".join(str(v) for v in (p.internal_api, p.version, p.architecture) if v)
            for p in sgemm.numpy_blas or []
        )
        note = (
            f"Peak: SGEMM {num(peak)} GFLOP/s (best of numpy {num(sgemm.numpy_gflops)} "
            f"and torch {num(sgemm.torch_gflops)}, n={sgemm.size}, "
            f"{sgemm.threads} threads; numpy BLAS: {kernels or 'unknown'}; "
            f"OPENBLAS_CORETYPE/L2_SIZE unset for the probe: "
            f"{'yes' if sgemm.unset_openblas_coretype else 'no'})."
        )
    else:
        why = (roof.reason if roof else None) or "not configured"
        note = f"SGEMM peak not measured: {why}."
    note = f"{note} {fma_peak_note(results)}" if results.roofline else note
    headers = ["task", "impl", "GFLOP/s", "share of peak", "share of FMA peak"]
    return Table("Roofline", headers, rows, note, "roofline")


def fma_peak_note(results: Results) -> str:
    """The FMA peak with its variant, threads, clock and flops per cycle, or why it is absent."""
    mach = results.machine
    fma = mach.fma_peak or FmaProbe()
    if not mach.fma_peak_gflops:
        if "fma_peak_gflops" not in mach.model_fields_set:
            return "FMA peak not recorded (the run predates the FMA probe)."
        roof = results.roofline
        why = fma.reason or (roof.reason if roof else None) or "not configured"
        return f"FMA peak not measured: {why}."
    mhz, per_cycle = fma.cpu_mhz, fma.flops_per_cycle_per_core
    clock = f"{num(mhz / 1000)} GHz reported" if mhz else "clock not reported"
    cycles = f"{num(per_cycle)} flops/cycle/core at that clock" if per_cycle else ""
    variants = [f"{name} {num(v.gflops)}" for name, v in (fma.variants or {}).items()]
    variants += [f"{name} skipped: {why}" for name, why in (fma.skipped or {}).items()]
    return (
        f"FMA peak (fp32, physical): {num(mach.fma_peak_gflops)} GFLOP/s ({fma.best} "
        f"FMA chains, {fma.threads} threads, {clock}{', ' + cycles if cycles else ''}; "
        f"{', '.join(variants)})."
    )


def phases(results: Results) -> Table:
    rows = []
    for m in results.measurements:
        for p in m.phase_summary or []:
            rows.append(
                [f"{m.task_index}: {m.task}", m.impl, p.name, num(p.wall_s),
                 mib(p.peak_rss_bytes)]
            )  # fmt: skip
    return Table(
        "Phases",
        ["task", "impl", "phase", "median wall s", "median peak RSS (sampled)"],
        rows,
        "Announced phases on the harness clock; `startup` is launch to the first phase.",
        "phases",
    )


def accuracy(results: Results) -> Table:
    rows = []
    for m in results.measurements:
        runs = measured_runs(m)
        names = sorted({k for r in runs for k in r.metrics if "accuracy" in k})
        for name in names:
            vals = sorted(
                float(r.metrics[name]) for r in runs if isinstance(r.metrics.get(name), int | float)
            )
            if vals:
                rows.append(
                    [f"{m.task_index}: {m.task}", m.impl, name,
                     num(vals[len(vals) // 2], 4), str(len(vals))]
                )  # fmt: skip
    return Table("Accuracy", ["task", "impl", "metric", "median", "runs"], rows, "", "accuracy")


def machine(results: Results) -> Table:
    mach, ds = results.machine, results.dataset
    rows = [
        ["CPU", f"{mach.cpu_model} ({', '.join(mach.cpu_flags or [])})"],
        ["cores", f"{mach.logical_cores} logical, {mach.physical_cores} physical"],
        ["memory", mib(mach.memory_bytes)],
        ["OS", str(mach.os)],
        ["Python", str(mach.python)],
        ["rustc", str(mach.rustc)],
        ["git", f"{mach.git_commit}{' (dirty)' if mach.git_dirty else ''}"],
        ["load average (1 min)", str(mach.load_avg_1m)],
        ["SGEMM peak", f"{num(mach.sgemm_gflops)} GFLOP/s"],
        ["FMA peak", fma_peak_fact(mach)],
    ]
    for var, value in (mach.env or {}).items():
        rows.append([var, "(unset)" if value is None else str(value)])
    rows.append(["data set", f"{ds.source} {ds.root}, {ds.images} images"])
    rows.append(["data set sha256", ds.sha256])
    for impl, info in results.implementations.items():
        versions = ", ".join(f"{k} {v}" for k, v in info.versions.items())
        rows.append([f"{impl} ({info.language})", versions])
    config = results.config
    settings = ", ".join(
        f"{key} {config.get(key, default)}"
        for key, default in (
            ("device", "cpu"),
            ("threads", 2),
            ("seed", 0),
            ("warmup", 1),
            ("repeats", 3),
        )
    )
    rows.append(["run", f"{results.name}: {settings}"])
    rows.append(["started / finished (UTC)", f"{results.started_utc} / "
                 f"{results.finished_utc}"])  # fmt: skip
    return Table("Machine and software", ["fact", "value"], rows, "", "machine")


def fma_peak_fact(mach: Machine) -> str:
    if not mach.fma_peak_gflops:
        return "not measured"
    fma = mach.fma_peak or FmaProbe()
    return f"{num(mach.fma_peak_gflops)} GFLOP/s ({fma.best}, {fma.threads} threads)"


def _spread(stats: Stat | None, scale: float = 1.0, digits: int = 3) -> str:
    if stats is None:
        return ""
    med, lo, hi = (scale * x for x in (stats.median, stats.min, stats.max))
    if stats.n == 1:
        return f"{med:.{digits}g}"
    return f"{med:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def quality(results: Results) -> Table:
    """Time to accuracy and accuracy over trainings, from `results.quality` (quality.py)."""
    rows = []
    evaluations: list[str] = []
    for record in results.quality or []:
        evals = record.evaluations
        evaluations = [f"{e.task_index}: {e.protocol}" for e in evals]
        target = record.target
        for impl, info in record.impls.items():
            s = info.summary
            olympic = s.time_to_target_olympic_s
            reached = (
                ""
                if target is None
                else f"{s.reached_target}/{s.runs} (target {100 * target:.1f}%)"
            )
            rows.append(
                [
                    str(record.task_index),
                    impl,
                    str(s.runs),
                    reached,
                    _spread(s.time_to_target_s),
                    "" if olympic is None else num(olympic),
                    _spread(s.best_val_accuracy, 100),
                    *[_spread(s.evaluations.get(str(e.task_index)), 100) for e in evals],
                ]
            )
    return Table(
        "Time to accuracy and accuracy over trainings",
        [
            "train task",
            "impl",
            "trainings",
            "reached",
            "time to target s (median [min, max])",
            "MLPerf mean s",
            "best validation % ",
            *[f"task {e} %" for e in evaluations],
        ],
        rows,
        "Time to target: wall seconds from the first data touched until a validation first "
        "reached the train task's quality_target (validation time included). MLPerf mean: "
        "without the fastest and slowest training, from 5 trainings that all reached it. "
        "Accuracies: median [min, max] over trainings; each training's weights are evaluated "
        "by the evaluate task's run of the same repeat.",
        id="quality",
    )


def all_tables(results: Results, extra: list[Table] | None = None) -> list[Table]:
    """Every table of the report, in order; `extra` (the serving tables, report/serving.py,
    which build on this module) before the machine's."""
    return [
        throughput(results),
        comparisons(results),
        checks(results),
        roofline(results),
        phases(results),
        accuracy(results),
        *([quality(results)] if results.quality else []),
        *(extra or []),
        machine(results),
    ]
