"""Calibration of the same-run gates: `python -m harness gate calibrate RUN_DIR...` and
`python -m harness gate ratios|memory --aa RUN_DIR...`.

Unchanged bench-ci runs judged against each other (every ordered pair as reference and current
run) give a gate's false-alarm rate; the same runs with one implementation made worse by a
factor give its detection rate (docs/reports.md, "Gates", has the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.gate import EXIT_PASS, EXIT_REFUSED, markdown_table
from harness.gate.gates import THROUGHPUT_GATE, Gate
from harness.gate.ratios import evaluate, make_reference, name_of
from harness.results import Results, Run, load


def degraded(results: Results, impl: str, by: float, gate: Gate) -> Results:
    """The run as if `impl` were `by` times worse on the gate's figure (slower: throughput / by;
    larger: peak RSS x by), every other figure as measured."""
    measurements = []
    for m in results.measurements:
        metric = gate.metric(m.task)
        if m.impl == impl and metric is not None:
            m = m.model_copy(update={"runs": [_worse(run, metric, by, gate) for run in m.runs]})
        measurements.append(m)
    return results.model_copy(update={"measurements": measurements})


def _worse(run: Run, metric: str, by: float, gate: Gate) -> Run:
    """One run with the gate's figure `by` times worse (a figure it lacks stays absent)."""
    if gate.higher_is_better:
        value = run.metrics.get(metric)
        if not isinstance(value, int | float):
            return run
        return run.model_copy(update={"metrics": {**run.metrics, metric: value / by}})
    return run.model_copy(update={"peak_rss_bytes": run.peak_rss_bytes * by})


@dataclass(frozen=True)
class Calibration:
    """A gate's error rates over every ordered pair (reference run, current run) of unchanged
    runs: how often it trips on nothing, and how often it catches a figure made worse."""

    pairs: int
    false_alarm_runs: int  # pairs where anything tripped
    false_alarm_figures: dict[tuple[str, str], int]  # (task, impl) -> pairs it tripped in
    detected: dict[tuple[str, str, float], int]  # (task, impl, by) -> pairs it tripped in


def calibrate(
    runs: Sequence[Results], gate: Gate, factors: Sequence[float], worse_by: Sequence[float]
) -> dict[float, Calibration]:
    """Each factor's error rates over every ordered pair of `runs` (at least two)."""
    references = [make_reference(run, Path(f"run{i}"), gate) for i, run in enumerate(runs)]
    impls = sorted({f.impl for ref in references for f in ref.figures})
    # Per current run, each implementation made worse in turn; judged against a reference of
    # that implementation's figures only (its verdicts do not depend on the others').
    worse = {
        j: [(impl, by, degraded(now, impl, by, gate)) for impl in impls for by in worse_by]
        for j, now in enumerate(runs)
    }
    alone = [
        {
            impl: ref.model_copy(update={"figures": [f for f in ref.figures if f.impl == impl]})
            for impl in impls
        }
        for ref in references
    ]
    pairs = [(i, j) for i in range(len(runs)) for j in range(len(runs)) if i != j]
    out = {}
    for factor in factors:
        false_runs = 0
        false_figures: dict[tuple[str, str], int] = {}
        detected: dict[tuple[str, str, float], int] = {}
        for i, j in pairs:
            outcome = evaluate(runs[j], references[i], factor, gate)
            false_runs += bool(outcome.tripped)
            for r in outcome.rows:
                tripped = r.verdict not in ("ok", gate.better)
                false_figures[(r.task, r.impl)] = false_figures.get((r.task, r.impl), 0) + tripped
            for impl, by, run in worse[j]:
                for r in evaluate(run, alone[i][impl], factor, gate).rows:
                    key = (r.task, impl, by)
                    detected[key] = detected.get(key, 0) + (r.verdict == gate.worse)
        out[factor] = Calibration(len(pairs), false_runs, false_figures, detected)
    return out


def render_calibration(
    cal: Calibration, gate: Gate, factor: float, worse_by: Sequence[float], runs: int
) -> str:
    def pct(n: int) -> str:
        return f"{100 * n / cal.pairs:.0f}%"

    header = ["task", "impl", "false alarms", *(f"caught at {by:g}x" for by in worse_by)]
    rows = [
        [task, impl, pct(n), *(pct(cal.detected.get((task, impl, by), 0)) for by in worse_by)]
        for (task, impl), n in cal.false_alarm_figures.items()
    ]
    return (
        f"{name_of(gate)} at factor {factor:g}: {runs} unchanged runs, {cal.pairs} ordered pairs "
        f"(reference, now); false alarm (anything tripped) in {cal.false_alarm_runs} of "
        f"{cal.pairs} gate runs ({pct(cal.false_alarm_runs)}); 'caught at Nx': the share of "
        f"pairs in which that implementation, made N times {gate.worse} in the current run, "
        f"trips\n\n" + markdown_table(header, rows)
    )


def main_calibrate(
    run_dirs: Sequence[Path],
    gate: Gate,
    factors: Sequence[float],
    worse_by: Sequence[float],
) -> int:
    """Print each gate's false-alarm and detection rates over unchanged runs."""
    import sys

    if len(run_dirs) < 2:
        print("error: gate calibrate: at least two RUN_DIRs are needed", file=sys.stderr)
        return EXIT_REFUSED
    try:
        runs = [load(d / "results.json") for d in run_dirs]
        for factor, cal in calibrate(runs, gate, factors, worse_by).items():
            print(render_calibration(cal, gate, factor, worse_by, len(runs)))
    except HarnessError as e:
        print(f"error: gate calibrate: {e}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_PASS


@dataclass(frozen=True)
class Spread:
    """One figure of one ordered pair of unchanged runs: now / reference and its interval."""

    ref: int
    now: int
    task: str
    impl: str
    q: float
    q_low: float
    q_high: float


def spread(runs: Sequence[Results], gate: Gate = THROUGHPUT_GATE) -> list[Spread]:
    """A/A calibration: every ordered pair (reference i, current j != i) of unchanged runs,
    the quotient and its interval per figure (docs/reports.md, "Gates")."""
    out: list[Spread] = []
    for i, ref_run in enumerate(runs):
        ref_doc = make_reference(ref_run, Path(f"run{i}"), gate)
        for j, now_run in enumerate(runs):
            if i == j:
                continue
            for row in evaluate(now_run, ref_doc, gate.default_factor, gate).rows:
                out.append(Spread(i, j, row.task, row.impl, row.q, row.q_low, row.q_high))
    return out


def main_aa(run_dirs: Sequence[Path], gate: Gate = THROUGHPUT_GATE) -> int:
    """Print the A/A spread of unchanged runs: per figure, the range of now/reference over
    every ordered pair of runs, and the widest interval edges (what the factor must cover)."""
    import sys

    if len(run_dirs) < 2:
        print(f"error: {name_of(gate)}: --aa needs at least two runs", file=sys.stderr)
        return EXIT_REFUSED
    try:
        runs = [load(d / "results.json") for d in run_dirs]
        pairs = spread(runs, gate)
    except HarnessError as e:
        print(f"error: {name_of(gate)}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    figures: dict[tuple[str, str], list[Spread]] = {}
    for p in pairs:
        figures.setdefault((p.task, p.impl), []).append(p)
    rows = []
    for (task, impl), ps in figures.items():
        qs = [p.q for p in ps]
        rows.append(
            [
                task,
                impl,
                str(len(ps)),
                f"{min(qs):.3f} .. {max(qs):.3f}",
                f"{min(p.q_high for p in ps):.3f}",
                f"{max(p.q_low for p in ps):.3f}",
            ]
        )
    header = ["task", "impl", "pairs", "now/ref", "lowest CI high", "highest CI low"]
    print(f"A/A spread of {len(runs)} unchanged runs (every ordered pair as reference, now)")
    print(
        "a false trip needs a CI high below 1/factor (a false slowdown) or a CI low above the "
        "factor (a false baseline slowdown)\n"
    )
    print(markdown_table(header, rows), end="")
    return EXIT_PASS
