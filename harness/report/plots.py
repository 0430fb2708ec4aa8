"""The report's plots as PNG bytes (matplotlib, Agg backend: no display needed).

- throughput: one panel per task, a bar per implementation at the median of its measured runs,
  a whisker from min to max, and every run as a dot;
- timelines: RSS and CPU of the first measured run of each implementation, per task, overlaid,
  with the announced phases marked;
- loss curves: `metric` events named `loss` (events.jsonl of the first measured run), of every
  implementation overlaid, per task;
- latency CDFs of the serve tasks (report/serving.py, passed in as `extra`).

Each function returns a list of `Plot(title, png, alt)`; a run with nothing to draw gives [].
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.analysis.phases import read_samples
from harness.analysis.ratios import values
from harness.process.runner import read_event_log
from harness.results import Measurement, Results, Run, by_task, measured_runs

DPI = 100


@dataclass(frozen=True)
class Plot:
    title: str
    png: bytes
    alt: str


def png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def throughput(results: Results) -> list[Plot]:
    panels = []
    for index, group in by_task(results.measurements):
        rows = []
        for m in group:
            tp = m.summary.throughput if m.summary else None
            if tp:
                rows.append((m.impl, list(values(m, tp.metric).values()), tp))
        if rows:
            panels.append((f"{index}: {group[0].task}", rows))
    if not panels:
        return []
    height = 1.2 + 1.1 * sum(len(r) for _, r in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, height))
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, (title, rows) in zip(axes, panels, strict=True):
        for y, (_impl, vals, tp) in enumerate(rows):
            ax.barh(y, tp.median, color=f"C{y}", alpha=0.6)
            ax.errorbar(
                tp.median,
                y,
                xerr=[[tp.median - tp.min], [tp.max - tp.median]],
                color="black",
                capsize=4,
            )
            ax.plot(vals, [y] * len(vals), "o", color="black", markersize=3)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_xlabel(rows[0][2].unit)
        ax.set_title(f"task {title}: throughput (median, min-max, runs)", fontsize=10)
        ax.set_xlim(left=0)
    alt = "Throughput per implementation and task: median bars with min-max whiskers"
    return [Plot("Throughput", png(fig), alt)]


def _first_run(m: Measurement) -> Run | None:
    runs: list[Run] = measured_runs(m)
    return runs[0] if runs else None


def timelines(results: Results, run_dir: Path) -> list[Plot]:
    plots = []
    for index, group in by_task(results.measurements):
        series = []
        for m in group:
            run = _first_run(m)
            if run is None:
                continue
            samples = read_samples(run_dir / run.dir / "samples.csv")
            if samples:
                series.append((m.impl, run, samples))
        if not series:
            continue
        fig, (ax_rss, ax_cpu) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
        for i, (impl, run, samples) in enumerate(series):
            t = [s.t_s for s in samples]
            ax_rss.plot(t, [s.rss_bytes / 2**20 for s in samples], color=f"C{i}", label=impl)
            ax_cpu.plot(t, [s.cpu_percent for s in samples], color=f"C{i}", label=impl)
            for p in run.phases:
                ax_rss.axvspan(p.begin_s, p.end_s, color=f"C{i}", alpha=0.08)
                ax_rss.text(p.begin_s, 0, p.name, fontsize=7, color=f"C{i}", va="bottom")
        ax_rss.set_ylabel("RSS (MiB)")
        ax_rss.set_ylim(bottom=0)
        ax_cpu.set_ylabel("CPU (%)")
        ax_cpu.set_xlabel("seconds since launch")
        ax_cpu.set_ylim(bottom=0)
        ax_rss.legend(fontsize=8)
        title = f"task {index}: {group[0].task}: RSS and CPU of the first measured run"
        ax_rss.set_title(title, fontsize=10)
        plots.append(Plot(f"Timeline {index}", png(fig), f"RSS and CPU timelines, {title}"))
    return plots


def read_losses(path: Path) -> list[tuple[float, float]]:
    """(step, value) of every `metric` event named `loss` in an events.jsonl."""
    out: list[tuple[float, float]] = []
    for n, event in enumerate(read_event_log(path)):
        if event.get("event") == "metric" and event.get("name") == "loss":
            value = event.get("value")
            if isinstance(value, int | float):
                step = event.get("step")
                out.append((float(step if isinstance(step, int | float) else n), float(value)))
    return out


def loss_curves(results: Results, run_dir: Path) -> list[Plot]:
    plots = []
    for index, group in by_task(results.measurements):
        curves = []
        for m in group:
            run = _first_run(m)
            if run is not None:
                losses = read_losses(run_dir / run.dir / "events.jsonl")
                if losses:
                    curves.append((m.impl, losses))
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for i, (impl, losses) in enumerate(curves):
            style = "-" if i == 0 else "--"
            steps, vals = [s for s, _ in losses], [v for _, v in losses]
            ax.plot(steps, vals, style, color=f"C{i}", label=impl)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        title = f"task {index}: {group[0].task}: loss of the first measured run"
        ax.set_title(title, fontsize=10)
        plots.append(Plot(f"Loss {index}", png(fig), f"Loss curves overlaid, {title}"))
    return plots


def accuracy_curves(results: Results) -> list[Plot]:
    """Every training's validation accuracy against wall time, a colour per implementation."""
    out = []
    for record in results.quality or []:
        impls = list(record.impls.items())
        if not any(run.curve for _, info in impls for run in info.runs):
            continue
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for i, (impl, info) in enumerate(impls):
            for k, run in enumerate(info.runs):
                if not run.curve:
                    continue
                ts, accs = zip(*run.curve, strict=True)
                ax.plot(
                    ts,
                    [100 * a for a in accs],
                    "-",
                    color=f"C{i}",
                    alpha=1.0 if k == 0 else 0.45,
                    label=impl if k == 0 else None,
                )
        if record.target is not None:
            ax.axhline(100 * record.target, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlabel("wall seconds since the first data touched")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=8)
        title = f"task {record.task_index}: train: validation accuracy of every training"
        ax.set_title(title, fontsize=10)
        out.append(Plot(f"Accuracy {record.task_index}", png(fig), f"Validation accuracy, {title}"))
    return out


def all_plots(results: Results, run_dir: Path, extra: list[Plot] | None = None) -> list[Plot]:
    """Every plot of the report; `extra` (the latency CDFs, report/serving.py, which build on
    this module) after the accuracy curves."""
    return [
        *throughput(results),
        *accuracy_curves(results),
        *(extra or []),
        *loss_curves(results, run_dir),
        *timelines(results, run_dir),
    ]
