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


def write_report(run_dir: Path, results: Results | Mapping[str, Any] | None = None) -> list[Path]:
    """Write every report format into the run folder; return the files written.

    `results` None: the folder's results.json; a dict (the document's JSON, from a caller
    that holds the file's dict) is parsed here, at the file boundary."""
    if results is None:
        from harness.report.stored_runs import load_results

        results = load_results(run_dir)
    doc = as_results(results, run_dir)
    written = []
    for name, render in formats().items():
        path = run_dir / name
        atomic_write_text(path, render(doc, run_dir))
        written.append(path)
    return written


def as_results(results: Results | Mapping[str, Any], run_dir: Path) -> Results:
    """The typed document: a model as it is, a results.json dict parsed (HarnessError if bad)."""
    if isinstance(results, Results):
        return results
    return parse(results, str(run_dir / "results.json"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write a sibling temp file and rename it: a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
