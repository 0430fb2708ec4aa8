"""report.md: the Verdict sentences, then the report's tables as GitHub-flavoured markdown
(plots are in report.html)."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.verdicts import sentences
from harness.report.serving import serving_tables
from harness.report.tables import Table, all_tables
from harness.results import Results


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(t: Table) -> str:
    lines = [
        "| " + " | ".join(cell(h) for h in t.headers) + " |",
        "| " + " | ".join("---" for _ in t.headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(results: Results, run_dir: Path) -> str:
    if results.sweep is not None:
        from harness.report.sweep import tables as sweep_tables

        parts = [
            f"# Sweep `{results.name}`",
            *verdict(results),
            "",
            f"Folder `{run_dir}`; started {results.started_utc} UTC; "
            f"{len(results.sweep.points)} points over {', '.join(results.sweep.keys)}; device "
            f"{results.device}. The crossover plots are in `report.html`; each point's own "
            "report is in its folder.",
        ]
        return "\n".join(parts + sections(sweep_tables(results))) + "\n"
    parts = [
        f"# Run `{results.name}`",
        *verdict(results),
        "",
        f"Folder `{run_dir}`; started {results.started_utc} UTC; "
        f"device {results.device}. "
        "Plots (throughput, RSS and CPU timelines, loss curves) are in `report.html`.",
    ]
    return "\n".join(parts + sections(all_tables(results, serving_tables(results)))) + "\n"


def verdict(results: Results) -> list[str]:
    """The report's first section: the verdict sentences (analysis/verdicts.py), one a line."""
    return ["", "## Verdict", ""] + [f"- {line}" for line in sentences(results)]


def sections(tables: list[Table]) -> list[str]:
    parts: list[str] = []
    for t in tables:
        parts += ["", f"## {t.title}", ""]
        if t.rows:
            parts.append(table(t))
        else:
            parts.append("(none in this run)")
        if t.note:
            parts += ["", t.note]
    return parts
