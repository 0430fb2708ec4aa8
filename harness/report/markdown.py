"""report.md: the report's tables as GitHub-flavoured markdown (plots are in report.html)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report.tables import Table, all_tables
from harness.results import Results, parse


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(t: Table) -> str:
    lines = [
        "| " + " | ".join(cell(h) for h in t.headers) + " |",
        "| " + " | ".join("---" for _ in t.headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(results: Results | Mapping[str, Any], run_dir: Path) -> str:
    results = results if isinstance(results, Results) else parse(results)
    parts = [
        f"# Run `{results.name}`",
        "",
        f"Folder `{run_dir}`; started {results.started_utc} UTC; "
        f"device {results.device}. "
        "Plots (throughput, RSS and CPU timelines, loss curves) are in `report.html`.",
    ]
    for t in all_tables(results):
        parts += ["", f"## {t.title}", ""]
        if t.rows:
            parts.append(table(t))
        else:
            parts.append("(none in this run)")
        if t.note:
            parts += ["", t.note]
    return "\n".join(parts) + "\n"
