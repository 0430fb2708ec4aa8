"""Exports of results.json to other tools' formats: `harness run --export FORMAT`.

Each format is a module with `export(results: Results) -> dict` (it reads the typed document of
harness/results.py) and a file name; `exporters()` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import Results, parse

Exporter = Callable[[Results], dict[str, Any]]


def exporters() -> dict[str, tuple[str, Exporter]]:
    from harness.export import pytest_benchmark

    return {"pytest-benchmark": (pytest_benchmark.FILE_NAME, pytest_benchmark.export)}


def write_export(fmt: str, results: Results | Mapping[str, Any], run_dir: Path) -> Path:
    known = exporters()
    if fmt not in known:
        raise HarnessError(f"--export {fmt}: unknown format; expected one of {', '.join(known)}")
    name, fn = known[fmt]
    path = run_dir / name
    doc = results if isinstance(results, Results) else parse(results, str(run_dir / "results.json"))
    path.write_text(json.dumps(fn(doc), indent=2) + "\n", encoding="utf-8")
    return path
