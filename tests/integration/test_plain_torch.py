"""PyTorch used plainly (impls/python-torch-plain) through the harness: it runs only the tasks
its manifest declares, the others are "not implemented" (no job, no measurement, never a
failure), and its outputs pass every check against python-torch and the float64 referee."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness_cli import run_harness

pytestmark = [pytest.mark.slow, pytest.mark.quick]


def test_the_plain_row_runs_step_and_forward_only_and_passes_every_check(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_harness(
        *("run", "configs/quickstart.yaml", "--out", str(out)),
        *("--set", "implementations=[python-torch,python-torch-plain]"),
        *("--set", "repeats=1", "--set", "warmup=0", "--set", "tasks.0.sample.pairs=2000"),
        *("--set", "tasks.4.step.steps=4", "--set", "roofline.measure=never"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    assert "not implemented, so not run: python-torch-plain (sample, load)" in said
    results = json.loads((out / "results.json").read_text())
    plain = [m for m in results["measurements"] if m["impl"] == "python-torch-plain"]
    assert sorted(m["task"] for m in plain) == ["forward", "step"]
    assert all(r["ok"] for m in plain for r in m["runs"]) and all(m["summary"] for m in plain)
    jobs = sorted(p.name for p in (out / "jobs").iterdir() if "python-torch-plain" in p.name)
    assert jobs == ["t03-forward-python-torch-plain-r00", "t04-step-python-torch-plain-r00"]
    step = next(m for m in plain if m["task"] == "step")["runs"][0]["metrics"]
    assert step["timed_steps"] == 3 and len(step["losses"]) == 4 and step["torch_threads"] == 2
    checks = {c["name"]: c for c in results["checks"] if "python-torch-plain" in c["impls"]}
    assert sorted(checks) == ["curves", "forward", "gradients"]
    assert all(c["ok"] for c in results["checks"]), results["checks"]
    assert "python-torch-plain" in checks["forward"]["detail"]  # refereed in float64 too
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| 0: sample | python-torch-plain | not implemented |" in report
    assert "| 3: forward | python-torch-plain | failed" not in report
