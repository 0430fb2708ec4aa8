"""The same-run ratio gates: `python -m harness gate ratios|memory RUN_DIR [--update]`.

A bench-ci run (configs/bench-ci.yaml) measures every implementation beside the baseline,
interleaved A B A B. Each gate takes, per task and implementation, a ratio impl / baseline of
the medians and compares it with the same ratio in its reference file:

- `ratios`: the task's throughput (higher is better), against `results/reference/ratios.json`;
- `memory`: the job's exact peak RSS (the launcher's `wait4`; lower is better), against
  `results/reference/memory.json`.

Absolute speed or size is never compared, so a faster or slower CI machine cancels out; a change
that slows or bloats one implementation does not.

The rule (asv's: a factor and significance). `q = ratio now / reference ratio` gets a 95%
bootstrap interval: the run's repeats are resampled in pairs (same repeat index), the
reference's pairs independently of them (its per-repeat values are in the file), and the
quotient of the two ratios of medians is taken each time. An implementation got **worse**
(slower; larger) when the whole interval lies beyond the factor the wrong way (below
`1 / factor` for a throughput, above `factor` for memory): a noisy figure needs a larger change
than a steady one. The **baseline got worse** when the intervals of every other implementation
of a task lie beyond the factor the good way at once (with one other implementation that is
also what it looks like when that one improved by the factor: either way the reference is
stale). One implementation better beyond the factor is a note, not a failure
(refresh the reference to keep the gate tight).

The factors come from A/A runs (the unchanged build against itself) and from slowdowns and
bloats applied to them: `python -m harness gate calibrate RUN_DIR...` measures each gate's
false-alarm and detection rates; docs/reports.md, "Gates", has the figures.

Exit 0: passed; 1: tripped (a `TRIPPED:` line per figure with the value and the reference);
2: cannot compare (no results.json, another config or data set, a task or implementation the
reference has and the run lacks, a failed measurement).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.analysis.ratios import values
from harness.errors import HarnessError
from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED, markdown_table, utc_now
from harness.gate import reference as reference_file
from harness.gate.gates import GATES as GATES
from harness.gate.gates import MEMORY_GATE as MEMORY_GATE
from harness.gate.gates import THROUGHPUT_GATE, Gate
from harness.gate.gates import factor_for as factor_for
from harness.gate.reference import (
    RatioFigure,
    RatioReference,
    ReferenceMachine,
    ReferenceRun,
    comparable_config,
    first_difference,
)
from harness.results import Results, by_task, load

REFERENCE_FORMAT = 1
RESAMPLES = 2000
SEED = 0


# --- the reference file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Paired:
    """Per-repeat values of the baseline and one implementation (same repeat index)."""

    baseline: tuple[float, ...]
    impl: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return float(np.median(self.impl) / np.median(self.baseline))


def paired_values(
    results: Results, task_index: int, impl: str, baseline: str, gate: Gate = THROUGHPUT_GATE
) -> Paired:
    """The gate's figure of `impl` and `baseline` on one task, keyed by repeat, in both."""
    group = dict(by_task(results.measurements)).get(task_index, [])
    found = {m.impl: m for m in group}
    for who in (baseline, impl):
        if who not in found:
            raise HarnessError(f"task {task_index}: the run has no measurement of {who}")
    task = found[baseline].task
    metric = gate.metric(task)
    if metric is None:
        raise HarnessError(f"task {task_index} ({task}): the {gate.name} gate reads no figure")
    a, b = values(found[baseline], metric), values(found[impl], metric)
    keys = sorted(set(a) & set(b))
    if len(keys) < 2:
        raise HarnessError(
            f"task {task_index} ({task}): {len(keys)} measured repeats of both {baseline} and "
            f"{impl}; at least 2 are needed (did a job fail?)"
        )
    return Paired(tuple(a[k] for k in keys), tuple(b[k] for k in keys))


def make_reference(results: Results, run_dir: Path, gate: Gate = THROUGHPUT_GATE) -> RatioReference:
    """The reference document of a run: its ratios with every per-repeat value behind them."""
    bad = [f"{m.task}/{m.impl}" for m in results.measurements if any(not r.ok for r in m.runs)]
    if bad:
        raise HarnessError(f"{run_dir}: failed jobs ({', '.join(bad)}): not a reference")
    config = results.config
    baseline_id = (config.get("comparisons") or {}).get("baseline")
    figures: list[RatioFigure] = []
    for index, group in by_task(results.measurements):
        ids = [m.impl for m in group]
        baseline = str(baseline_id if baseline_id in ids else ids[0])
        task = group[0].task
        metric = gate.metric(task)
        if metric is None:
            continue
        for impl in ids:
            if impl == baseline:
                continue
            p = paired_values(results, index, impl, baseline, gate)
            figures.append(
                RatioFigure(
                    task=task,
                    task_index=index,
                    impl=impl,
                    baseline=baseline,
                    metric=metric,
                    ratio=round(p.ratio, 4),
                    baseline_values=[_sig(v) for v in p.baseline],
                    impl_values=[_sig(v) for v in p.impl],
                )
            )
    machine = results.machine
    return RatioReference(
        format_version=REFERENCE_FORMAT,
        what=gate.what,
        made_by=(
            f"python -m harness run configs/{results.name}.yaml --out {run_dir} && "
            f"python -m harness gate {gate.verb} {run_dir} --update"
        ),
        made_utc=utc_now(),
        run=ReferenceRun(
            name=results.name,
            started_utc=results.started_utc,
            git_commit=machine.git_commit,
            git_dirty=machine.git_dirty,
        ),
        machine=ReferenceMachine(
            cpu_model=machine.cpu_model,
            cpu_flags=machine.cpu_flags,
            logical_cores=machine.logical_cores,
            os=machine.os,
            python=machine.python,
            rustc=machine.rustc,
            load_avg_1m=machine.load_avg_1m,
            sgemm_gflops=machine.sgemm_gflops,
        ),
        dataset_sha256=results.dataset.sha256,
        config=comparable_config(config),
        figures=figures,
    )


def _sig(v: float) -> float:
    """Four significant digits: enough for the bootstrap, short enough to read in a diff."""
    return float(f"{v:.4g}")


def read_reference(path: Path, gate: Gate = THROUGHPUT_GATE) -> RatioReference:
    return reference_file.read_reference(
        path,
        gate.name,
        gate.update_command,
        REFERENCE_FORMAT,
        ("figures", list),
        remake=True,
        model=RatioReference,
    )


# --- the rule --------------------------------------------------------------------------------


def quotient_interval(
    now: Paired, ref: Paired, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float, float]:
    """ratio now / ratio ref and its 95% percentile bootstrap interval (seeded)."""
    rng = np.random.default_rng(seed)

    def boot(p: Paired) -> np.ndarray:
        a, b = np.asarray(p.baseline), np.asarray(p.impl)
        idx = rng.integers(0, len(a), size=(resamples, len(a)))
        out: np.ndarray = np.median(b[idx], axis=1) / np.median(a[idx], axis=1)
        return out

    q = boot(now) / boot(ref)
    lo, hi = np.quantile(q, [0.025, 0.975])
    return now.ratio / ref.ratio, float(lo), float(hi)


@dataclass(frozen=True)
class Row:
    task: str
    task_index: int
    impl: str
    baseline: str
    metric: str
    ref_ratio: float
    now_ratio: float
    q: float
    q_low: float
    q_high: float
    verdict: str  # ok | the gate's worse or better word | baseline <worse>


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    tripped: list[str]
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_TRIPPED if self.tripped else EXIT_PASS


def check_comparable(results: Results, reference: RatioReference, update: str) -> None:
    """HarnessError unless the run measured what the reference did: same config (less how it
    was measured), same data set."""
    why = first_difference(reference.config, comparable_config(results.config))
    if why:
        raise HarnessError(
            f"the run's config differs from the reference's ({why}); run the reference's config "
            f"or make a new reference with `{update}`"
        )
    if reference.dataset_sha256 != results.dataset.sha256:
        raise HarnessError(
            f"the run's data set checksum differs from the reference's; "
            f"make a new reference with `{update}`"
        )


def evaluate(
    results: Results,
    reference: RatioReference,
    factor: float,
    gate: Gate = THROUGHPUT_GATE,
) -> Outcome:
    """Compare a run's ratios with the reference's; HarnessError when they cannot be compared."""
    if factor <= 1.0:
        raise HarnessError(
            f"--factor {factor}: expected a factor above 1 (e.g. {gate.default_factor:g})"
        )
    update = gate.update_command
    check_comparable(results, reference, update)
    notes: list[str] = []
    ref_cpu = reference.machine.cpu_model
    if ref_cpu != results.machine.cpu_model:
        notes.append(
            f"note: reference made on {ref_cpu}, this run on {results.machine.cpu_model}: "
            "ratios can shift between CPU models"
        )
    rows: list[Row] = []
    for fig in reference.figures:
        ref = Paired(tuple(fig.baseline_values), tuple(fig.impl_values))
        try:
            now = paired_values(results, fig.task_index, fig.impl, fig.baseline, gate)
        except HarnessError as e:
            raise HarnessError(f"{e}; the reference has it ({fig.task}/{fig.impl})") from None
        q, lo, hi = quotient_interval(now, ref)
        verdict = (
            gate.worse
            if gate.is_worse(lo, hi, factor)
            else (gate.better if gate.is_better(lo, hi, factor) else "ok")
        )
        rows.append(
            Row(
                fig.task,
                fig.task_index,
                fig.impl,
                fig.baseline,
                fig.metric,
                ref.ratio,
                now.ratio,
                q,
                lo,
                hi,
                verdict,
            )
        )
    known = {(f.task_index, f.impl) for f in reference.figures}
    for index, group in by_task(results.measurements):
        if gate.metric(group[0].task) is None:
            continue
        for m in group:
            if (index, m.impl) not in known and m.impl != _baseline_of(reference, index):
                notes.append(
                    f"note: {m.task}/{m.impl} has no reference figure (not gated); add it "
                    f"with `{update}`"
                )
    tripped: list[str] = []
    by_index: dict[int, list[Row]] = {}
    for row in rows:
        by_index.setdefault(row.task_index, []).append(row)
    final: list[Row] = []
    for _, task_rows in sorted(by_index.items()):
        if all(r.verdict == gate.better for r in task_rows):
            task_rows = [_with(r, f"baseline {gate.worse}") for r in task_rows]
            r0 = task_rows[0]
            others = ", ".join(
                f"{r.impl} {r.q:.2f}x [{r.q_low:.2f}, {r.q_high:.2f}]" for r in task_rows
            )
            tripped.append(
                f"TRIPPED: {r0.task} (task {r0.task_index}): the baseline {r0.baseline} is "
                f"{gate.worse}: every other implementation's {r0.metric} ratio moved "
                f"{gate.limit(factor, worse=False)} at once (now/reference: {others}); if "
                f"instead they all got {gate.better}, refresh the reference with `{update}`"
            )
        for r in task_rows:
            if r.verdict == gate.worse:
                tripped.append(
                    f"TRIPPED: {r.task} (task {r.task_index}) {r.impl}: {r.metric} ratio to "
                    f"{r.baseline} is {r.now_ratio:.4g}x, reference {r.ref_ratio:.4g}x: "
                    f"now/reference {r.q:.3f} [{r.q_low:.3f}, {r.q_high:.3f}], wholly "
                    f"{gate.limit(factor)}"
                )
            elif r.verdict == gate.better:
                notes.append(
                    f"note: {r.task}/{r.impl} is {gate.better} than the reference by more than "
                    f"{factor:g}x; refresh the reference to keep the gate tight"
                )
        final.extend(task_rows)
    return Outcome(final, tripped, notes)


def _baseline_of(reference: RatioReference, index: int) -> str | None:
    for f in reference.figures:
        if f.task_index == index:
            return f.baseline
    return None


def _with(row: Row, verdict: str) -> Row:
    from dataclasses import replace

    return replace(row, verdict=verdict)


def render(
    outcome: Outcome, factor: float, reference_path: Path, gate: Gate = THROUGHPUT_GATE
) -> str:
    header = [
        "task",
        "impl",
        "figure",
        "reference ratio",
        "ratio now",
        "now / reference [95% CI]",
        "verdict",
    ]
    rows = [
        [
            f"{r.task} ({r.task_index})",
            r.impl,
            f"{r.metric} / {r.baseline}",
            f"{r.ref_ratio:.4g}x",
            f"{r.now_ratio:.4g}x",
            f"{r.q:.3f} [{r.q_low:.3f}, {r.q_high:.3f}]",
            r.verdict,
        ]
        for r in outcome.rows
    ]
    name = name_of(gate)
    head = (
        f"{name}: {len(outcome.rows)} figures against {reference_path}; trips when the "
        f"interval lies wholly {gate.limit(factor)} (or, for every implementation of a task, "
        f"{gate.limit(factor, worse=False)}: the baseline got {gate.worse})\n\n"
    )
    tail = "".join(f"{line}\n" for line in [*outcome.notes, *outcome.tripped])
    verdict = (
        f"{name}: TRIPPED ({len(outcome.tripped)})\n" if outcome.tripped else f"{name}: passed\n"
    )
    return head + markdown_table(header, rows) + ("\n" + tail if tail else "") + verdict


def name_of(gate: Gate) -> str:
    """`ratio gate`, `memory gate`: how output lines name the gate."""
    return f"{gate.name} gate"


def main(
    run_dir: Path,
    reference: Path,
    factor: float | None,
    update: bool,
    gate: Gate = THROUGHPUT_GATE,
) -> int:
    """The verb: print the table and return the exit code (2 with one line when refused).
    `factor` None: the gate's own for the machines (`factor_for`)."""
    import sys

    try:
        results = load(run_dir / "results.json")
        if results.sweep is not None:
            raise HarnessError(
                f"{run_dir} is a sweep; the gate reads one run (bench-ci), such as one of its "
                "points/NN folders"
            )
        failed = [b for b in results.builds if not b.ok]
        if failed:
            raise HarnessError(
                f"{run_dir}: building {failed[0].impl} failed (see {failed[0].log}), so the run "
                "measured nothing; a run whose builds all passed is needed"
            )
        if update:
            doc = make_reference(results, run_dir, gate)
            reference_file.write_reference(doc, reference, compact_lists=True)
            print(f"wrote {reference}: {len(doc.figures)} ratios of {run_dir}")
            return EXIT_PASS
        doc = read_reference(reference, gate)
        if factor is None:
            factor, why = factor_for(results, doc, gate)
        else:
            why = f"factor {factor:g}: as asked"
        outcome = evaluate(results, doc, factor, gate)
    except HarnessError as e:
        print(f"error: {name_of(gate)}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{name_of(gate)}: {why}")
    print(render(outcome, factor, reference, gate), end="")
    return outcome.exit_code
