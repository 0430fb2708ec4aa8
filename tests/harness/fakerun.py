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
from harness.results import RESULTS_FORMAT_VERSION, Measurement, Results
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


# --- hand-written partial documents, completed ------------------------------------------------

RUN_DEFAULTS: dict[str, Any] = {
    "repeat": 0, "warmup": False, "dir": "job", "wall_s": 1.0, "user_s": 0.5, "sys_s": 0.0,
    "peak_rss_bytes": 0, "sampled_peak_rss_bytes": 0, "startup_s": None, "exit_code": 0,
    "signal": None, "timed_out": False, "out_of_memory": False, "phases": [], "ok": True,
    "error": None, "metrics": {}, "outputs": {},
}  # fmt: skip
DOCUMENT_DEFAULTS: dict[str, Any] = {
    "protocol": 1, "name": "test", "status": "complete",
    "started_utc": "2026-01-01T00:00:00+00:00", "finished_utc": None, "machine": {},
    "config": {}, "implementations": {}, "builds": [], "measurements": [], "checks": [],
}  # fmt: skip


def complete_run(partial: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON from a test's partial one: every field it leaves out filled in."""
    return {**RUN_DEFAULTS, **partial}


def complete_measurement(partial: dict[str, Any]) -> Measurement:
    """A Measurement from a test's partial JSON (impl, task and runs, say)."""
    runs = [complete_run(r) for r in partial.get("runs", [])]
    fields = {"task": "sample", "task_index": 0, "params": {}, "summary": None, **partial}
    return Measurement.model_validate({"planned_runs": len(runs), **fields, "runs": runs})


def complete_results(partial: dict[str, Any]) -> Results:
    """A Results from a test's partial document (its measurements, config, dataset ...)."""
    dataset = {"source": "synthetic", "root": "/d", "sha256": "", **partial.get("dataset", {})}
    doc = {**DOCUMENT_DEFAULTS, "format_version": RESULTS_FORMAT_VERSION, **partial}
    doc["dataset"] = dataset
    doc["measurements"] = [complete_measurement(m) for m in doc["measurements"]]
    if doc.get("reruns") is not None:
        doc["reruns"] = [complete_run(r) for r in doc["reruns"]]
    return Results.model_validate(doc)
