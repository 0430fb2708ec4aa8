"""Runs of the fake implementation for the reporting tests: a tiny data set, a config, a run."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.process.impls import Implementation
from harness.run.config import from_dict
from harness.run.display import Display
from harness.run.experiment import run_experiment

FAKE = str(Path(__file__).with_name("fake_impl.py"))


def fake(impl_id: str, *args: str) -> Implementation:
    return Implementation(
        id=impl_id,
        language="python",
        folder=Path(FAKE).parent,
        run=(sys.executable, FAKE, *args, "run", "{job}"),
    )


def tiny_dataset(folder: Path) -> Path:
    root = folder / "data"
    (root / "Alpha" / "character01").mkdir(parents=True, exist_ok=True)
    (root / "Alpha" / "character01" / "0001_01.png").write_bytes(b"not checked by fakes")
    return root


def wait_for_runs(results: Path, runs: int, timeout_s: float) -> None:
    """Wait until the results.json at `results` records at least `runs` runs (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if results.is_file():
            data = json.loads(results.read_text())
            if sum(len(m["runs"]) for m in data["measurements"]) >= runs:
                return
        time.sleep(0.05)


def quiet() -> Display:
    return Display(Console(file=io.StringIO(), stderr=False))


def fake_run(
    folder: Path, impls: dict[str, list[str]], data: Path | None = None, **extra: Any
) -> tuple[dict[str, Any], Path]:
    """Run `sample` with fake implementations (id -> extra fake_impl flags) into folder/run."""
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {
        "name": "fake",
        "seed": 0,
        "threads": 1,
        "repeats": 5,
        "warmup": 1,
        "implementations": list(impls),
        "dataset": {"root": str(data or tiny_dataset(folder))},
        "tasks": [{"sample": {"pairs": 10}}],
        **extra,
    }
    available = {i: fake(i, *flags) for i, flags in impls.items()}
    run_dir = folder / "run"
    return run_experiment(from_dict(raw), run_dir, quiet(), available), run_dir
