"""Reports of a run: `python -m harness report RUN_DIR` (and the end of every `harness run`).

Every format is a module with `render(results: Results, run_dir) -> str`; `formats()` maps it
to its file: `report.md` (markdown.py: tables) and `report.html` (html.py: tables and the
plots of plots.py embedded as PNG, one self-contained file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.results import Results, parse

Renderer = Callable[[Results, Path], str]


def formats() -> dict[str, Renderer]:
    from harness.report import html, markdown

    return {"report.md": markdown.render, "report.html": html.render}


def write_report(run_dir: Path, results: Mapping[str, Any] | None = None) -> list[Path]:
    """Write every report format into the run folder; return the files written."""
    if results is None:
        from harness.report.stored_runs import load_run

        results = load_run(run_dir)
    doc = parse(results, str(run_dir / "results.json"))
    written = []
    for name, render in formats().items():
        path = run_dir / name
        atomic_write_text(path, render(doc, run_dir))
        written.append(path)
    return written


def atomic_write_text(path: Path, text: str) -> None:
    """Write a sibling temp file and rename it: a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
