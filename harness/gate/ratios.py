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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.ratios import values
from harness.errors import HarnessError
from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED, markdown_table, utc_now
from harness.process.protocol import REPO_ROOT, THROUGHPUT
from harness.report.diff import RUN_CONTROL_KEYS
from harness.results import Results, by_task, load, parse

REFERENCE_FORMAT = 1
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Gate:
    """One same-run ratio gate: which figure it reads, which way is better, its reference."""

    verb: str  # `harness gate VERB`
    name: str  # how messages name it: the ratio gate, a memory reference
    what: str  # the reference's one-line description
    reference_path: Path
    default_factor: float  # against a reference made on the same kind of CPU
    other_cpu_factor: float  # ... on another kind (ratios shift with the microarchitecture)
    higher_is_better: bool
    worse: str  # the verdict of a figure that got worse: slower, larger
    better: str  # ... and better: faster, smaller

    def metric(self, task: str) -> str | None:
        """The figure this gate reads on `task` (None: the task is not gated)."""
        if self.higher_is_better:
            return THROUGHPUT[task][0] if task in THROUGHPUT else None
        return "peak_rss_bytes"

    @property
    def update_command(self) -> str:
        return f"python -m harness gate {self.verb} RUN_DIR --update"

    def is_worse(self, low: float, high: float, factor: float) -> bool:
        return high < 1 / factor if self.higher_is_better else low > factor

    def is_better(self, low: float, high: float, factor: float) -> bool:
        return low > factor if self.higher_is_better else high < 1 / factor

    def limit(self, factor: float, worse: bool = True) -> str:
        """`below 1/1.5 = 0.667` or `above 1.1`: where an interval must lie to count."""
        if self.higher_is_better == worse:
            return f"below 1/{factor:g} = {1 / factor:.3f}"
        return f"above {factor:g}"


# The factors are chosen from calibration runs (docs/reports.md, "Gates"): their false-alarm
# rate on unchanged builds and the smallest slowdown or bloat they catch.
THROUGHPUT_GATE = Gate(
    verb="ratios",
    name="ratio",
    what="same-run throughput ratios impl/baseline of a bench-ci run (harness/gate)",
    reference_path=REPO_ROOT / "results" / "reference" / "ratios.json",
    default_factor=1.1,
    other_cpu_factor=1.5,
    higher_is_better=True,
    worse="slower",
    better="faster",
)
MEMORY_GATE = Gate(
    verb="memory",
    name="memory",
    what="same-run peak-RSS ratios impl/baseline of a bench-ci run (harness/gate)",
    reference_path=REPO_ROOT / "results" / "reference" / "memory.json",
    default_factor=1.1,
    other_cpu_factor=1.5,
    higher_is_better=False,
    worse="larger",
    better="smaller",
)
GATES = {g.verb: g for g in (THROUGHPUT_GATE, MEMORY_GATE)}


def cpu_kind(machine: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two machines the same kind for a ratio: CPU model, its vector flags, cores."""
    flags = machine.get("cpu_flags")
    return (machine.get("cpu_model"), sorted(flags or []), machine.get("logical_cores"))


def factor_for(results: Results, reference: Mapping[str, Any], gate: Gate) -> tuple[float, str]:
    """The gate's factor for this run and reference, and a note saying which and why: the
    calibrated one on the reference's kind of CPU, the loose one on another."""
    ref_machine = reference.get("machine") or {}
    now = results.machine
    here = cpu_kind(
        {"cpu_model": now.cpu_model, "cpu_flags": now.cpu_flags, "logical_cores": now.logical_cores}
    )
    if cpu_kind(ref_machine) == here:
        return gate.default_factor, f"factor {gate.default_factor:g}: the reference's kind of CPU"
    return gate.other_cpu_factor, (
        f"factor {gate.other_cpu_factor:g}: the reference was made on another kind of CPU "
        f"({ref_machine.get('cpu_model')}, {ref_machine.get('logical_cores')} cores, "
        f"{', '.join(ref_machine.get('cpu_flags') or [])}); refresh it on this one for the "
        f"calibrated factor {gate.default_factor:g}"
    )


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal between a run and its reference: the config without how it was
    measured (`harness diff`'s run-control keys), and without where the data set lives (its
    checksum is compared separately)."""
    out = {k: v for k, v in config.items() if k not in RUN_CONTROL_KEYS}
    dataset = dict(out.get("dataset") or {})
    dataset.pop("root", None)
    dataset.pop("eval_root", None)
    out["dataset"] = dataset
    return out


def first_difference(a: Any, b: Any, at: str = "config") -> str:
    """'' when equal, else the first differing key as `key: A vs B`."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            why = first_difference(a.get(key), b.get(key), f"{at}.{key}")
            if why:
                return why
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            why = first_difference(x, y, f"{at}.{i}")
            if why:
                return why
        return ""
    return "" if a == b else f"{at}: {json.dumps(a)} vs {json.dumps(b)}"


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


def make_reference(results: Results, run_dir: Path, gate: Gate = THROUGHPUT_GATE) -> dict[str, Any]:
    """The reference document of a run: its ratios with every per-repeat value behind them."""
    bad = [f"{m.task}/{m.impl}" for m in results.measurements if any(not r.ok for r in m.runs)]
    if bad:
        raise HarnessError(f"{run_dir}: failed jobs ({', '.join(bad)}): not a reference")
    config = results.config
    baseline_id = (config.get("comparisons") or {}).get("baseline")
    figures: list[dict[str, Any]] = []
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
                {
                    "task": task,
                    "task_index": index,
                    "impl": impl,
                    "baseline": baseline,
                    "metric": metric,
                    "ratio": round(p.ratio, 4),
                    "baseline_values": [_sig(v) for v in p.baseline],
                    "impl_values": [_sig(v) for v in p.impl],
                }
            )
    machine = results.machine
    return {
        "format_version": REFERENCE_FORMAT,
        "what": gate.what,
        "made_by": (
            f"python -m harness run configs/{results.name}.yaml --out {run_dir} && "
            f"python -m harness gate {gate.verb} {run_dir} --update"
        ),
        "made_utc": utc_now(),
        "run": {
            "name": results.name,
            "started_utc": results.started_utc,
            "git_commit": machine.git_commit,
            "git_dirty": machine.git_dirty,
        },
        "machine": {
            "cpu_model": machine.cpu_model,
            "cpu_flags": machine.cpu_flags,
            "logical_cores": machine.logical_cores,
            "os": machine.os,
            "python": machine.python,
            "rustc": machine.rustc,
            "load_avg_1m": machine.load_avg_1m,
            "sgemm_gflops": machine.sgemm_gflops,
        },
        "dataset_sha256": results.dataset.sha256,
        "config": comparable_config(config),
        "figures": figures,
    }


def _sig(v: float) -> float:
    """Four significant digits: enough for the bootstrap, short enough to read in a diff."""
    return float(f"{v:.4g}")


def write_reference(doc: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    # One figure's values on one line each, so a refreshed reference reads as a short diff.
    path.write_text(_compact_lists(text) + "\n", encoding="utf-8")


def _compact_lists(text: str) -> str:
    import re

    return re.sub(
        r"\[\s+([-0-9.e+,\s\"a-z_0-9]*?)\s+\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )


def read_reference(path: Path, gate: Gate = THROUGHPUT_GATE) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(
            f"{path}: no {gate.name} reference; make one with `{gate.update_command}`"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: unreadable {gate.name} reference ({e})") from None
    if doc.get("format_version") != REFERENCE_FORMAT or not isinstance(doc.get("figures"), list):
        raise HarnessError(
            f"{path}: not a {gate.name} reference of format {REFERENCE_FORMAT}; remake it with "
            f"`{gate.update_command}`"
        )
    return doc


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


def evaluate(
    results: Results,
    reference: Mapping[str, Any],
    factor: float,
    gate: Gate = THROUGHPUT_GATE,
) -> Outcome:
    """Compare a run's ratios with the reference's; HarnessError when they cannot be compared."""
    if factor <= 1.0:
        raise HarnessError(
            f"--factor {factor}: expected a factor above 1 (e.g. {gate.default_factor:g})"
        )
    update = gate.update_command
    why = first_difference(reference.get("config"), comparable_config(results.config))
    if why:
        raise HarnessError(
            f"the run's config differs from the reference's ({why}); run the reference's config "
            f"or make a new reference with `{update}`"
        )
    if reference.get("dataset_sha256") != results.dataset.sha256:
        raise HarnessError(
            f"the run's data set checksum differs from the reference's; "
            f"make a new reference with `{update}`"
        )
    notes: list[str] = []
    ref_cpu = (reference.get("machine") or {}).get("cpu_model")
    if ref_cpu != results.machine.cpu_model:
        notes.append(
            f"note: reference made on {ref_cpu}, this run on {results.machine.cpu_model}: "
            "ratios can shift between CPU models"
        )
    rows: list[Row] = []
    for fig in reference["figures"]:
        ref = Paired(tuple(fig["baseline_values"]), tuple(fig["impl_values"]))
        try:
            now = paired_values(results, int(fig["task_index"]), fig["impl"], fig["baseline"], gate)
        except HarnessError as e:
            raise HarnessError(f"{e}; the reference has it ({fig['task']}/{fig['impl']})") from None
        q, lo, hi = quotient_interval(now, ref)
        verdict = (
            gate.worse
            if gate.is_worse(lo, hi, factor)
            else (gate.better if gate.is_better(lo, hi, factor) else "ok")
        )
        rows.append(
            Row(
                fig["task"],
                int(fig["task_index"]),
                fig["impl"],
                fig["baseline"],
                fig["metric"],
                ref.ratio,
                now.ratio,
                q,
                lo,
                hi,
                verdict,
            )
        )
    known = {(f["task_index"], f["impl"]) for f in reference["figures"]}
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


def _baseline_of(reference: Mapping[str, Any], index: int) -> str | None:
    for f in reference["figures"]:
        if f["task_index"] == index:
            return str(f["baseline"])
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
    name = _name(gate)
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


def _name(gate: Gate) -> str:
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
            write_reference(doc, reference)
            print(f"wrote {reference}: {len(doc['figures'])} ratios of {run_dir}")
            return EXIT_PASS
        doc = read_reference(reference, gate)
        if factor is None:
            factor, why = factor_for(results, doc, gate)
        else:
            why = f"factor {factor:g}: as asked"
        outcome = evaluate(results, doc, factor, gate)
    except HarnessError as e:
        print(f"error: {_name(gate)}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{_name(gate)}: {why}")
    print(render(outcome, factor, reference, gate), end="")
    return outcome.exit_code


# --- calibration: false alarms and detection, from unchanged runs -------------------------------


def degraded(results: Results, impl: str, by: float, gate: Gate) -> Results:
    """The run as if `impl` were `by` times worse on the gate's figure (slower: throughput / by;
    larger: peak RSS x by), every other figure as measured."""
    doc = results.dump()
    for m in doc["measurements"]:
        if m["impl"] != impl:
            continue
        metric = gate.metric(m["task"])
        for run in m["runs"]:
            if metric is None:
                continue
            if gate.higher_is_better:
                value = (run.get("metrics") or {}).get(metric)
                if isinstance(value, int | float):
                    run["metrics"][metric] = value / by
            elif isinstance(run.get(metric), int | float):
                run[metric] = run[metric] * by
    return parse(doc)


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
    impls = sorted({f["impl"] for ref in references for f in ref["figures"]})
    # Per current run, each implementation made worse in turn; judged against a reference of
    # that implementation's figures only (its verdicts do not depend on the others').
    worse = {
        j: [(impl, by, degraded(now, impl, by, gate)) for impl in impls for by in worse_by]
        for j, now in enumerate(runs)
    }
    alone = [
        {
            impl: {**ref, "figures": [f for f in ref["figures"] if f["impl"] == impl]}
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
        f"{_name(gate)} at factor {factor:g}: {runs} unchanged runs, {cal.pairs} ordered pairs "
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


def spread(runs: Sequence[Results], gate: Gate = THROUGHPUT_GATE) -> list[dict[str, Any]]:
    """A/A calibration: every ordered pair (reference i, current j != i) of unchanged runs,
    the quotient and its interval per figure (docs/reports.md, "Gates")."""
    out: list[dict[str, Any]] = []
    for i, ref_run in enumerate(runs):
        ref_doc = make_reference(ref_run, Path(f"run{i}"), gate)
        for j, now_run in enumerate(runs):
            if i == j:
                continue
            for row in evaluate(now_run, ref_doc, gate.default_factor, gate).rows:
                out.append(
                    {
                        "ref": i,
                        "now": j,
                        "task": row.task,
                        "impl": row.impl,
                        "q": row.q,
                        "q_low": row.q_low,
                        "q_high": row.q_high,
                    }
                )
    return out


def main_aa(run_dirs: Sequence[Path], gate: Gate = THROUGHPUT_GATE) -> int:
    """Print the A/A spread of unchanged runs: per figure, the range of now/reference over
    every ordered pair of runs, and the widest interval edges (what the factor must cover)."""
    import sys

    if len(run_dirs) < 2:
        print(f"error: {_name(gate)}: --aa needs at least two runs", file=sys.stderr)
        return EXIT_REFUSED
    try:
        runs = [load(d / "results.json") for d in run_dirs]
        pairs = spread(runs, gate)
    except HarnessError as e:
        print(f"error: {_name(gate)}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    figures: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in pairs:
        figures.setdefault((p["task"], p["impl"]), []).append(p)
    rows = []
    for (task, impl), ps in figures.items():
        qs = [p["q"] for p in ps]
        rows.append(
            [
                task,
                impl,
                str(len(ps)),
                f"{min(qs):.3f} .. {max(qs):.3f}",
                f"{min(p['q_high'] for p in ps):.3f}",
                f"{max(p['q_low'] for p in ps):.3f}",
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
