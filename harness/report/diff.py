"""`python -m harness diff BASE_DIR NEW_DIR [--threshold 5%] [--force] [--across-machines]`.

Every figure the two runs share (per task and implementation: the throughput metric, achieved
GFLOP/s, wall seconds, CPU seconds, peak RSS) gets a row: both medians, the ratio new/base with a
bootstrap 95% interval (the runs of two different invocations are not paired), the Mann-Whitney
p-value and a verdict. A change is significant when the interval excludes 1 and p < 0.05; the
diff fails (exit 1) when a figure got significantly worse by more than the threshold (a ratio
beyond 1.05 for times and memory, below 0.95 for throughput, at 5%), and passes (0) otherwise.

Two runs of different configs (tasks and their parameters, seed, threads, model, data set and
its checksum, but not where the data set lives) are not comparable: `diff` refuses with exit 2
and the first difference, unless `--force`. Repeats, warmup, the monitor, timeouts and the
report settings may differ. `--figures throughput,wall_s` restricts the table and the gate to
those figures (short jobs' wall seconds are noisy; the workload's throughput is what a gate
should watch). Two sweeps of the same grid are compared point by point.

Figures from different machine kinds (CPU models: the run's `machine`, or per measurement the
cluster node it ran on) are refused with exit 2 unless `--across-machines`; then those rows say
`machine comparison:` and none of them is ever a regression (a faster CPU is not a change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.comparable import RUN_CONTROL_KEYS, parse_percentage
from harness.analysis.ratios import Figure, compare_figure, context, figures_of, refusal, values
from harness.errors import HarnessError
from harness.process.protocol import THROUGHPUT
from harness.report.stored_runs import load_results
from harness.report.tables import num, ratio_text, verdict
from harness.results import Comparison, Measurement, Results

# Where the data set lives may differ (another checkout, another machine); its checksum may not.
IGNORED_PATHS = ("dataset.root", "dataset.eval_root")


class IncomparableRuns(HarnessError):
    """The two runs measured different things; `diff` exits 2 unless forced."""


@dataclass(frozen=True)
class DiffResult:
    markdown: str
    regressions: list[str]
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    return parse_percentage(text, "--threshold", "5%", 10, "between 0% and 1000%")


def config_difference(base: Mapping[str, Any], new: Mapping[str, Any], path: str = "") -> str:
    """The first differing key path of two configs, ignoring run-control keys; '' if none."""
    keys = sorted(set(base) | set(new), key=str)
    for key in keys:
        if not path and key in RUN_CONTROL_KEYS:
            continue
        where = f"{path}.{key}" if path else str(key)
        if where in IGNORED_PATHS:
            continue
        a, b = base.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            inner = config_difference(a, b, where)
            if inner:
                return inner
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                inner = config_difference({str(i): x}, {str(i): y}, where)
                if inner:
                    return inner.replace(f"{where}.{i}", f"{where}[{i}]", 1)
        elif a != b:
            return f"{where}: {a!r} vs {b!r}"
    return ""


def check_comparable(base: Results, new: Results) -> None:
    # A config without `device` ran on the CPU: the same as `device: cpu`.
    why = config_difference({"device": "cpu", **base.config}, {"device": "cpu", **new.config})
    if not why:
        a, b = base.dataset.sha256, new.dataset.sha256
        if a != b:
            why = f"dataset.sha256: {str(a)[:12]}... vs {str(b)[:12]}..."
    if why:
        raise IncomparableRuns(
            f"the runs come from different configs ({why}); pass --force to compare anyway"
        )


def worse_by(entry: Comparison) -> float:
    """How much worse new is than base, as a fraction (negative when it is better)."""
    ratio = float(entry.ratio or 0.0)
    return 1.0 - ratio if entry.higher_is_better else ratio - 1.0


FIGURE_NAMES = ("throughput", "gflop_per_s", "wall_s", "cpu_s", "peak_rss_bytes")


def parse_figures(text: str | None) -> tuple[str, ...] | None:
    """'throughput,wall_s' -> the figures to compare; None (all) when not given."""
    if not text:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in FIGURE_NAMES:
            raise HarnessError(
                f"--figures: unknown figure {name!r}; expected some of {', '.join(FIGURE_NAMES)}"
            )
    return names


def diff_results(
    base: Results,
    new: Results,
    threshold: float = 0.05,
    force: bool = False,
    figures: Sequence[str] | None = None,
    across_machines: bool = False,
) -> DiffResult:
    """The diff table and the regressions; raises IncomparableRuns unless `force`.

    Figures measured on different machine kinds (CPU models) are refused unless
    `across_machines`; then their rows are machine comparisons and never regressions.
    """
    notes: list[str] = []
    try:
        check_comparable(base, new)
    except IncomparableRuns as e:
        if not force:
            raise
        notes.append(f"forced: {e}".replace("; pass --force to compare anyway", ""))
    new_by_key = {key_of(m): m for m in new.measurements}
    kinds = machine_pairs(base, new, new_by_key)
    if kinds and not across_machines:
        kind_a, kind_b = kinds[0]
        raise IncomparableRuns(
            f"the runs come from different machines ({kind_a} vs {kind_b}): their figures compare "
            "machines, not versions; pass --across-machines to see them as a machine "
            "comparison (never a regression)"
        )
    for kind_a, kind_b in kinds:
        notes.append(
            f"machine comparison: base on {kind_a}, new on {kind_b}; those rows compare "
            "machines and are never counted as regressions"
        )
    rows: list[list[str]] = []
    regressions: list[str] = []
    for mb in base.measurements:
        mn = new_by_key.get(key_of(mb))
        if mn is None:
            continue
        label = f"{mb.task_index}: {mb.task}"
        if mb.point is not None:  # two sweeps of one grid: point by point
            label = f"point {mb.point}, {label}"
        why = refusal(context(base, mb), context(new, mn))
        tp_metric = THROUGHPUT.get(mb.task, ("", ""))[0]
        for figure in figures_of(mb.task):
            alias = "throughput" if figure.name == tp_metric else figure.name
            if figures is not None and alias not in figures:
                continue
            a, b = values(mb, figure.name), values(mn, figure.name)
            if not a or not b:
                continue
            med_a, med_b = _median(a), _median(b)
            if why and not force:
                rows.append([label, mb.impl, figure.name, num(med_a), num(med_b), "", "", why])
                continue
            entry = compared(mb, figure, compare_figure(a, b, paired=False, labels=("base", "new")))
            text = verdict(entry)
            loss = worse_by(entry)
            if machine_kind(base, mb) != machine_kind(new, mn):
                text = f"machine comparison: {text}"
            elif entry.significant and loss > threshold:
                regressions.append(f"{label} {mb.impl} {figure.name}: {100 * loss:.1f}% worse")
                text += f" (worse by {100 * loss:.1f}% > {100 * threshold:g}%)"
            if entry.warning:
                text += f"; {entry.warning}"
            rows.append(
                [label, mb.impl, figure.name, num(med_a), num(med_b), ratio_text(entry),
                 f"{entry.p_value:.3f}", text]
            )  # fmt: skip
    if not rows:
        raise IncomparableRuns("the runs share no measured figure (no task and impl in common)")
    header = ["task", "impl", "figure", "base median", "new median", "ratio [95% CI]", "p",
              "verdict"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    lines += [""] + [f"note: {n}" for n in notes]
    if regressions:
        lines.append(f"REGRESSION: {len(regressions)} figure(s) significantly worse by more "
                     f"than {100 * threshold:g}%: " + "; ".join(regressions))  # fmt: skip
    else:
        lines.append(f"no figure significantly worse by more than {100 * threshold:g}%")
    return DiffResult("\n".join(lines) + "\n", regressions, notes)


def compared(m: Measurement, figure: Figure, interval: Mapping[str, Any]) -> Comparison:
    """compare_figure's interval of base and new as a Comparison of the figure (new / base)."""
    return Comparison(
        task=m.task,
        task_index=m.task_index,
        baseline="base",
        impl=m.impl,
        metric=figure.name,
        unit=figure.unit,
        higher_is_better=figure.higher_is_better,
        **interval,
    )


def machine_kind(doc: Results, measurement: Measurement) -> str | None:
    """The CPU model a measurement ran on: its cluster node's, else the run's machine's."""
    node = measurement.node
    cpu = (node.cpu_model if node else None) or doc.machine.cpu_model
    return None if cpu is None else str(cpu)


def machine_pairs(
    base: Results, new: Results, new_by_key: Mapping[MeasurementKey, Measurement]
) -> list[tuple[str | None, str | None]]:
    """Every distinct (base, new) pair of different machine kinds among the compared figures."""
    pairs: list[tuple[str | None, str | None]] = []
    for mb in base.measurements:
        mn = new_by_key.get(key_of(mb))
        if mn is None:
            continue
        pair = (machine_kind(base, mb), machine_kind(new, mn))
        if pair[0] != pair[1] and pair not in pairs:
            pairs.append(pair)
    return pairs


MeasurementKey = tuple[int | None, int, str, str]


def key_of(m: Measurement) -> MeasurementKey:
    """What pairs a measurement of one run with the other's: sweep point, task, impl."""
    return (m.point, m.task_index, m.task, m.impl)


def _median(vals: Mapping[int, float]) -> float:
    xs = sorted(vals.values())
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def diff_runs(
    base_dir: Path,
    new_dir: Path,
    threshold: float = 0.05,
    force: bool = False,
    figures: Sequence[str] | None = None,
    across_machines: bool = False,
) -> DiffResult:
    base, new = load_results(base_dir), load_results(new_dir)
    return diff_results(base, new, threshold, force, figures, across_machines)
