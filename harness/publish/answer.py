"""The answer's figures from archived records: which runs, which rows, each cell's ratio.

- The answer runs are the archived records of config name `answer`. Per machine, its newest one
  (by start time, then run id) is its column in "The answer by CPU"; the README's headline is
  the newest answer run of any machine (the same order), so the README follows the archive.
- A row is a headline figure: the task's throughput at one network (`model.preset`), one
  convolution algorithm (`model.conv`) and one batch, read from the record's sweep point, else
  its config; `sample` and `load` do not depend on the network and are kept once. Peak RSS is
  the `step` rows' peak_rss_bytes comparison; start-up is the ratio of the median start-up times
  (each implementation's median over its measurements; no interval: a job's start-up is one
  figure, not a paired sample).
- A cell is the comparison's ratio to python-torch with its 95% interval and its label
  (harness.analysis.verdicts.label: the reports' rule).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.verdicts import label
from harness.archive.record import Record
from harness.process.protocol import THROUGHPUT
from harness.results import Comparison

ANSWER_NAME = "answer"
BASELINE = "python-torch"
HEADLINE_TASKS = ("step", "forward", "evaluate", "sample", "load")
NETWORK_ORDER = ("paper", "cpu", "small", "tiny")
MARKS = {"level": " ≈", "not settled": " ?"}


@dataclass(frozen=True, order=True)
class RowKey:
    """One headline row: the figure (0 throughput, 1 peak RSS, 2 start-up) of a task."""

    figure: int
    network_rank: int
    network: str
    conv: str
    task_rank: int
    task: str
    batch: int

    @property
    def label(self) -> str:
        if self.figure == 2:
            return "start-up to first event"
        batch = f" b{self.batch}" if self.batch and self.task in ("step", "forward") else ""
        where = f" ({self.network}, {self.conv})" if self.task not in ("sample", "load") else ""
        head = "peak RSS, " if self.figure == 1 else ""
        return f"{head}`{self.task}`{batch}{where}"


STARTUP = RowKey(2, 0, "", "", 0, "", 0)


@dataclass(frozen=True)
class Cell:
    ratio: float
    low: float | None
    high: float | None
    label: str  # verdicts.label's: faster, slower, ..., level, not settled; "" for start-up
    comparison: Comparison | None = None

    @property
    def text(self) -> str:
        interval = (
            "" if self.low is None or self.high is None else f" [{self.low:.2f}, {self.high:.2f}]"
        )
        return f"{self.ratio:.2f}x{interval}{MARKS.get(self.label, '')}"


@dataclass(frozen=True)
class Answer:
    """One record's headline: its implementations and every row's cells (impl -> Cell)."""

    record: Record
    impls: list[str]
    rows: dict[RowKey, dict[str, Cell]]
    baseline: dict[RowKey, str]  # python-torch's own figure per row, e.g. "24.6 pairs/s"


def answer_runs(records: Sequence[Record]) -> list[Record]:
    return sorted(
        (r for r in records if r.name == ANSWER_NAME), key=lambda r: (r.started_utc, r.run_id)
    )


def newest_per_machine(records: Sequence[Record]) -> dict[str, Record]:
    """Each machine's newest answer run, by machine id."""
    out: dict[str, Record] = {}
    for r in answer_runs(records):
        out[r.machine.machine_id] = r
    return dict(sorted(out.items()))


def newest(records: Sequence[Record]) -> Record | None:
    runs = answer_runs(records)
    return runs[-1] if runs else None


def _setting(record: Record, point: int | None, key: str, default: str) -> str:
    values: dict[str, Any] = {}
    if point is not None and record.sweep is not None:
        values = next((p.values for p in record.sweep.points if p.index == point), {})
    if f"model.{key}" in values:
        return str(values[f"model.{key}"])
    model = values.get("model", record.config.get("model"))
    if isinstance(model, dict) and key in model:
        return str(model[key])
    return default


def row_key(record: Record, c: Comparison, params: dict[str, Any]) -> RowKey | None:
    if c.task not in HEADLINE_TASKS or c.baseline != BASELINE:
        return None
    if c.metric == "peak_rss_bytes" and c.task == "step":
        figure = 1
    elif c.metric == THROUGHPUT[c.task][0]:
        figure = 0
    else:
        return None
    data = c.task in ("sample", "load")
    network = "" if data else _setting(record, c.point, "preset", "custom")
    conv = "" if data else _setting(record, c.point, "conv", "direct")
    rank = NETWORK_ORDER.index(network) if network in NETWORK_ORDER else len(NETWORK_ORDER)
    batch = params.get("batch")
    return RowKey(
        figure,
        rank,
        network,
        conv,
        HEADLINE_TASKS.index(c.task),
        c.task,
        batch if isinstance(batch, int) else 0,
    )


def _figure(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"
    if unit == "s":
        return f"{value * 1000:.0f} ms"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{text} {unit}"


def _startup(record: Record) -> tuple[dict[str, Cell], str | None]:
    medians: dict[str, list[float]] = {}
    for m in record.measurements:
        if m.summary is not None and m.summary.startup_s is not None:
            medians.setdefault(m.impl, []).append(float(m.summary.startup_s.median))
    base = statistics.median(medians[BASELINE]) if medians.get(BASELINE) else None
    if not base:
        return {}, None
    cells = {
        impl: Cell(statistics.median(v) / base, None, None, "")
        for impl, v in medians.items()
        if impl != BASELINE
    }
    return cells, _figure(base, "s")


def answer_of(record: Record) -> Answer:
    """The headline of one answer run: every row it measured, in the headline's order."""
    params = {(m.impl, m.task_index, m.point): m for m in record.measurements}
    rows: dict[RowKey, dict[str, Cell]] = {}
    baseline: dict[RowKey, str] = {}
    for c in record.comparisons:
        m = params.get((c.baseline, c.task_index, c.point))
        key = row_key(record, c, m.params if m else {})
        if key is None or m is None or c.ratio is None:
            continue
        if key in rows and c.impl in rows[key]:
            continue  # a data task at a second sweep point: kept once
        rows.setdefault(key, {})[c.impl] = Cell(
            float(c.ratio), _num(c.ci_low), _num(c.ci_high), label(c), c
        )
        if key not in baseline and m.summary is not None:
            if key.figure == 1:
                baseline[key] = _figure(float(m.summary.peak_rss_bytes.median), "bytes")
            elif m.summary.throughput is not None:
                tp = m.summary.throughput
                baseline[key] = _figure(float(tp.median), tp.unit)
    startup, base = _startup(record)
    if startup and base:
        rows[STARTUP], baseline[STARTUP] = startup, base
    listed = [i for i in record.implementations if i != BASELINE]
    seen = {impl for cells in rows.values() for impl in cells}
    impls = [i for i in listed if i in seen] + sorted(seen - set(listed))
    return Answer(record, impls, dict(sorted(rows.items())), baseline)


def _num(value: float | None) -> float | None:
    return None if value is None else float(value)
