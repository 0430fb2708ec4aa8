"""report.md: the report's tables as GitHub-flavoured markdown (plots are in report.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.tables import Table, all_tables


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(t: Table) -> str:
    lines = [
        "| " + " | ".join(cell(h) for h in t.headers) + " |",
        "| " + " | ".join("---" for _ in t.headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(results: dict[str, Any], run_dir: Path) -> str:
    parts = [
        f"# Run `{results.get('name')}`",
        "",
        f"Folder `{run_dir}`; started {results.get('started_utc')} UTC; "
        f"device {results.get('device', 'cpu')}. "
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
