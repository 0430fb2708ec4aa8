"""The plain PyTorch yardstick (benchmarks/plain_torch.py) runs and reports what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "plain_torch.py"


@pytest.mark.parametrize("task", ["step", "forward"])
def test_plain_script_reports_its_timed_calls(task: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--task", task, "--preset", "tiny", "--batch", "8",
         "--threads", "1", "--warmup", "1", "--repeats", "3"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["task"] == task and report["threads"] == 1 and report["batch"] == 8
    assert report["pairs_per_s"] > 0 and report["median_call_s"] > 0
