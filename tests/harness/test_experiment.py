"""`harness run` end to end with fake implementations: results.json, interleaving, checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.run.config import from_dict
from harness.run.experiment import run_experiment
from tests.harness.fakerun import fake, quiet, tiny_dataset


def config(tmp_path: Path, **extra: Any) -> Any:
    raw = {
        "name": "fake",
        "threads": 1,
        "repeats": 2,
        "warmup": 1,
        "implementations": ["a", "b"],
        "dataset": {"root": str(tiny_dataset(tmp_path))},
        "tasks": [{"sample": {"pairs": 10}}],
        **extra,
    }
    return from_dict(raw)


def test_results_json_has_the_fields_other_tools_read(tmp_path: Path) -> None:
    out = tmp_path / "run"
    available = {"a": fake("a", "--rate", "100"), "b": fake("b", "--rate", "400")}
    results = run_experiment(config(tmp_path), out, quiet(), available)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["format_version"] == 1
    for key in (
        "cpu_model",
        "logical_cores",
        "memory_bytes",
        "os",
        "python",
        "rustc",
        "git_commit",
    ):
        assert key in on_disk["machine"]
    m = {x["impl"]: x for x in on_disk["measurements"]}
    assert set(m) == {"a", "b"}
    runs = m["b"]["runs"]
    assert [r["warmup"] for r in runs] == [True, False, False]
    for r in runs:
        assert r["ok"] and r["exit_code"] == 0
        assert r["wall_s"] > 0 and r["user_s"] >= 0 and r["sys_s"] >= 0 and r["peak_rss_bytes"] > 0
    s = m["b"]["summary"]
    assert s["throughput"]["median"] == 400 and s["throughput"]["unit"] == "pairs/s"
    assert set(s["wall_s"]) >= {"median", "iqr", "min", "max"}
    assert s["peak_rss_bytes"]["median"] > 0
    (check,) = on_disk["checks"]
    assert check == {
        "name": "sampling",
        "task_index": 0,
        "impls": ["a", "b"],
        "value": 0.0,
        "tolerance": 0.0,
        "ok": True,
        "detail": "0 of 11 lines differ",
    }


def test_implementations_are_interleaved(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_experiment(config(tmp_path), out, quiet(), {"a": fake("a"), "b": fake("b")})
    jobs = sorted((out / "jobs").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    order = [p.name.split("-")[2] for p in jobs]
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_sampling_check_fails_when_pair_files_differ(tmp_path: Path) -> None:
    out = tmp_path / "run"
    available = {"a": fake("a"), "b": fake("b", "--variant", "z")}
    results = run_experiment(config(tmp_path), out, quiet(), available)
    (check,) = results["checks"]
    assert not check["ok"] and check["value"] == 10.0


def test_a_failing_job_is_recorded_and_the_rest_still_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    available = {"a": fake("a", "--mode", "crash"), "b": fake("b")}
    results = run_experiment(config(tmp_path), out, quiet(), available)
    m = {x["impl"]: x for x in results["measurements"]}
    assert all(not r["ok"] and r["exit_code"] == 3 for r in m["a"]["runs"])
    assert "exit code 3: error: fake crash as asked" in m["a"]["runs"][0]["error"]
    assert all(r["ok"] for r in m["b"]["runs"]) and m["a"]["summary"] is None


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("badjson", "malformed result.json"),
        ("schema", "violates the schema"),
        ("noresult", "no result.json"),
        ("badevents", "malformed event line(s) on stdout"),
    ],
)
def test_bad_result_files_are_failed_runs(tmp_path: Path, mode: str, reason: str) -> None:
    out = tmp_path / "run"
    available = {"a": fake("a"), "b": fake("b", "--mode", mode)}
    results = run_experiment(config(tmp_path, warmup=0, repeats=1), out, quiet(), available)
    run = results["measurements"][1]["runs"][0]
    assert not run["ok"] and reason in run["error"]


def test_cli_run_reports_config_errors_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntasks:\n  - sample: {pairs: 0}\n")
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "tasks[0].sample.pairs" in err
