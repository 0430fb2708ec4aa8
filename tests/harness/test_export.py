"""results.json in pytest-benchmark's JSON format, read back by pytest-benchmark itself."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.stats import Stats

from harness.errors import HarnessError
from harness.export import write_export
from harness.export.pytest_benchmark import stats
from tests.harness.fakerun import fake_run


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 9, 12])
def test_statistics_match_pytest_benchmarks_own(n: int) -> None:
    rng = random.Random(n)
    data = [rng.uniform(0.1, 0.2) for _ in range(n)] + ([1.0] if n > 4 else [])
    theirs = Stats()
    for x in data:
        theirs.update(x)
    ours = stats(data)
    for field in Stats.fields:
        assert ours[field] == pytest.approx(getattr(theirs, field)), field
    assert ours["data"] == data and ours["iterations"] == 1


@pytest.mark.slow
def test_export_of_a_run_is_read_by_pytest_benchmark_compare(tmp_path: Path) -> None:
    doc, run_dir = fake_run(tmp_path, {"a": ["--rate", "100"], "b": ["--rate", "300"]}, repeats=3)
    path = write_export("pytest-benchmark", doc, run_dir)
    data = json.loads(path.read_text())
    assert set(data) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    bench = {b["name"]: b for b in data["benchmarks"]}
    assert set(bench) == {"sample[a]", "sample[b]"}
    b = bench["sample[b]"]
    assert b["stats"]["rounds"] == 3 and b["params"]["impl"] == "b"
    assert b["extra_info"]["throughput_median"] == 300 and b["extra_info"]["warmup_runs"] == 1
    walls = [r["wall_s"] for r in doc["measurements"][1]["runs"] if not r["warmup"]]
    assert b["stats"]["data"] == walls
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(path), "--columns=min,median"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sample[a]" in proc.stdout and "sample[b]" in proc.stdout


def test_unknown_export_format_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="--export csv: unknown format; expected one of"):
        write_export("csv", {"measurements": []}, tmp_path)
