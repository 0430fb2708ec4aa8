"""Exports of results.json to other tools' formats: `harness run --export FORMAT`.

Each format is a module with `export(results) -> dict` and a file name; `EXPORTERS` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

Exporter = Callable[[dict[str, Any]], dict[str, Any]]


def exporters() -> dict[str, tuple[str, Exporter]]:
    from harness.export import pytest_benchmark

    return {"pytest-benchmark": (pytest_benchmark.FILE_NAME, pytest_benchmark.export)}


def write_export(fmt: str, results: dict[str, Any], run_dir: Path) -> Path:
    known = exporters()
    if fmt not in known:
        raise HarnessError(f"--export {fmt}: unknown format; expected one of {', '.join(known)}")
    name, fn = known[fmt]
    path = run_dir / name
    path.write_text(json.dumps(fn(results), indent=2) + "\n", encoding="utf-8")
    return path
