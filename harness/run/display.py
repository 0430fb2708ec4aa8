"""What a person sees while a run goes on, and the summary table at its end.

On a terminal: a live status line per job that follows the implementation's own progress
events. Elsewhere (CI logs, pipes): one plain line per job.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.process.protocol import Event
from harness.results import Results, Run, parse


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Display:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.live = self.console.is_terminal
        self._status: Any = None

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def start_job(self, label: str) -> Callable[[Event], None]:
        if not self.live:
            return lambda event: None
        self._status = self.console.status(label)
        self._status.start()

        def on_event(event: Event) -> None:
            data = event.data
            if event.kind == "progress" and self._status is not None:
                done, total = data.get("done"), data.get("total")
                self._status.update(f"{label}: {done}/{total} {data.get('unit', '')}")
            elif event.kind == "phase" and self._status is not None:
                self._status.update(f"{label}: {data.get('name')} {data.get('state')}")

        return on_event

    def end_job(self, label: str, run: Run) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if run.ok:
            tp = {k: v for k, v in run.metrics.items() if k.endswith("_per_s")}
            rate = ", ".join(f"{k} {v:,.0f}" for k, v in tp.items())
            self.line(
                f"{label}: ok {run.wall_s:.2f} s, peak {human_bytes(run.peak_rss_bytes)}"
                + (f", {rate}" if rate else "")
            )
        else:
            self.line(f"{label}: FAILED: {run.error}")

    def summary(self, results: Results | Mapping[str, Any]) -> None:
        results = results if isinstance(results, Results) else parse(results)
        table = Table(title=f"{results.name}: medians of measured runs")
        sweep = results.sweep is not None
        first = ("point", "task", "impl") if sweep else ("task", "impl")
        for col in (*first, "throughput", "wall s", "peak RSS", "start-up s", "runs"):
            table.add_column(col, justify="left" if col in first else "right")
        for m in results.measurements:
            s = m.summary
            lead = (str(m.point), m.task, m.impl) if sweep else (m.task, m.impl)
            if s is None:
                table.add_row(*lead, "failed", "", "", "", f"0/{len(m.runs)}")
                continue
            tp = s.throughput
            table.add_row(
                *lead,
                f"{tp.median:,.0f} {tp.unit}" if tp else "",
                f"{s.wall_s.median:.3f}",
                human_bytes(s.peak_rss_bytes.median),
                f"{s.startup_s.median:.3f}" if s.startup_s is not None else "",
                f"{s.runs}",
            )
        out = Console(file=sys.stdout, highlight=False, width=max(self.console.width, 100))
        out.print(table)
        for c in results.checks:
            verdict = "ok" if c.ok else "FAIL"
            at = f" (point {c.point})" if c.point is not None else ""
            out.print(f"check {c.name}{at} {' vs '.join(c.impls)}: {verdict} ({c.detail})")
        for record in (results.sweep.crossover or []) if results.sweep else []:
            for line in record.summary:
                out.print(line)
