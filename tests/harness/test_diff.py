"""`harness diff`: verdicts, the regression gate and refusals, on fake runs and documents."""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.report import diff
from harness.report.diff import DiffResult, IncomparableRuns, diff_runs, parse_threshold
from harness.results import parse
from tests.harness.fakerun import fake_run, tiny_dataset

JITTER = ["--jitter", "0.03"]  # +-3% deterministic noise on every throughput figure


def fake_runs(folder: Path, rate_a: float, seed: int) -> Path:
    impls = {
        "a": ["--rate", str(rate_a), *JITTER, "--jitter-seed", str(seed)],
        "b": ["--rate", "2000", *JITTER, "--jitter-seed", str(seed + 100)],
    }
    data = tiny_dataset(folder.parent)
    return fake_run(folder, impls, data=data)[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("diff")
    return {
        "base": fake_runs(top / "base", 1000, seed=1),
        "same": fake_runs(top / "same", 1000, seed=2),
        "slower": fake_runs(top / "slower", 900, seed=3),
    }


NOT_SIGNIFICANT = ("level", "not settled")  # the labels of no significant change


def rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    out = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0] != "task" and not cells[0].startswith("---"):
            out[(cells[1], cells[2])] = cells
    return out


@pytest.mark.slow
def test_a_to_a_is_no_significant_change(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["diff", str(runs["base"]), str(runs["same"]), "--figures", "throughput"]
    assert main(args) == 0
    out = capsys.readouterr().out
    table = rows(out)
    assert set(table) == {("a", "pairs_per_s"), ("b", "pairs_per_s")}
    assert all(r[7].startswith(NOT_SIGNIFICANT) for r in table.values())
    assert "no figure significantly worse by more than 5%" in out


@pytest.mark.slow
def test_a_ten_percent_slowdown_fails_the_diff(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["diff", str(runs["base"]), str(runs["slower"]), "--figures", "throughput"]
    assert main(args) == 1
    out = capsys.readouterr().out
    table = rows(out)
    slow = table[("a", "pairs_per_s")]
    assert re.fullmatch(r"slower \(worse by [0-9.]+% > 5%\)", slow[7])
    assert float(slow[5].split()[0]) < 0.95
    assert table[("b", "pairs_per_s")][7].startswith(NOT_SIGNIFICANT)
    assert "REGRESSION: 1 figure(s)" in out and "0: sample a pairs_per_s" in out


@pytest.mark.slow
def test_a_slowdown_under_the_threshold_passes(runs: dict[str, Path]) -> None:
    args = ["diff", str(runs["base"]), str(runs["slower"]), "--figures", "throughput"]
    assert main([*args, "--threshold", "15%"]) == 0


@pytest.mark.slow
def test_the_table_lists_every_shared_figure(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["diff", str(runs["base"]), str(runs["same"])])
    figures = {f for _, f in rows(capsys.readouterr().out)}
    assert figures == {"pairs_per_s", "wall_s", "cpu_s", "peak_rss_bytes"}


@pytest.mark.slow
def test_runs_of_different_configs_are_refused_unless_forced(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = fake_run(tmp_path, {"a": [], "b": []}, data=tiny_dataset(tmp_path), seed=7)[1]
    assert main(["diff", str(runs["base"]), str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different configs" in err and "seed: 0 vs 7" in err
    assert main(["diff", str(runs["base"]), str(other), "--force", "--figures", "wall_s"]) in (0, 1)
    assert "note: forced: the runs come from different configs" in capsys.readouterr().out


@pytest.mark.slow
def test_missing_runs_and_bad_options_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(tmp_path / "nope"), str(runs["base"])]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["diff", str(runs["base"]), str(runs["same"]), "--threshold", "five"]) == 2
    assert "--threshold 'five'" in capsys.readouterr().err
    assert main(["diff", str(runs["base"]), str(runs["same"]), "--figures", "speed"]) == 2
    assert "unknown figure 'speed'" in capsys.readouterr().err
    assert main(["diff", str(tmp_path), str(runs["base"]), "--skip-missing-base"]) == 0
    assert "nothing to diff" in capsys.readouterr().out


# Documents built in memory: wall seconds with +-2% seeded noise.


def document(wall_s: float, seed: int, n: int = 7) -> dict[str, Any]:
    """A complete results document (every field the model requires) of one `load` task."""
    rng = random.Random(seed)
    runs = [
        {"repeat": i, "warmup": False, "dir": f"jobs/{i}", "ok": True, "user_s": 1.0,
         "sys_s": 0.0, "wall_s": wall_s * (1 + 0.02 * (2 * rng.random() - 1)),
         "peak_rss_bytes": 1 << 20, "sampled_peak_rss_bytes": 1 << 20, "startup_s": None,
         "exit_code": 0, "signal": None, "timed_out": False, "out_of_memory": False,
         "phases": [], "error": None, "metrics": {}, "outputs": {}}
        for i in range(n)
    ]  # fmt: skip
    return {
        "format_version": 1,
        "protocol": 1,
        "name": "x",
        "status": "complete",
        "started_utc": "2026-01-01T00:00:00+00:00",
        "finished_utc": None,
        "config": {"name": "x", "seed": 0, "threads": 2, "tasks": [{"load": {}}]},
        "dataset": {"source": "synthetic", "root": "/data", "sha256": "abc"},
        "machine": {"cpu_model": "cpu"},
        "implementations": {},
        "builds": [],
        "checks": [],
        "measurements": [
            {
                "impl": "rs",
                "task": "load",
                "task_index": 0,
                "params": {},
                "planned_runs": n,
                "runs": runs,
                "summary": None,
            }
        ],
    }


def test_a_document_missing_a_field_is_refused_naming_it(tmp_path: Path) -> None:
    doc = document(1.0, 1)
    del doc["measurements"][0]["runs"][0]["wall_s"]
    for name, d in (("base", document(1.0, 1)), ("new", doc)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(HarnessError, match=r"measurements\.0\.runs\.0\.wall_s"):
        diff_runs(tmp_path / "base", tmp_path / "new")


def diff_results(base: dict[str, Any], new: dict[str, Any], **options: Any) -> DiffResult:
    """report.diff.diff_results of two documents built in memory (parsed into the model)."""
    return diff.diff_results(parse(base, "the base run"), parse(new, "the new run"), **options)


def wall_row(result_md: str) -> list[str]:
    return rows(result_md)[("rs", "wall_s")]


def test_wall_time_verdicts_and_gate() -> None:
    base = document(1.0, 1)
    slower = diff_results(base, document(1.10, 2))
    assert slower.exit_code == 1 and wall_row(slower.markdown)[7].startswith("slower")
    faster = diff_results(base, document(0.90, 3))
    assert faster.exit_code == 0 and wall_row(faster.markdown)[7].startswith("faster")
    small = diff_results(base, document(1.04, 4))
    assert small.exit_code == 0 and wall_row(small.markdown)[7] == "slower"
    same = diff_results(base, document(1.0, 5))
    assert same.exit_code == 0 and wall_row(same.markdown)[7] == "level"


def test_dataset_checksum_and_task_parameters_must_match() -> None:
    base = document(1.0, 1)
    other = copy.deepcopy(base)
    other["dataset"]["sha256"] = "def"
    with pytest.raises(IncomparableRuns, match=r"dataset\.sha256"):
        diff_results(base, other)
    other = copy.deepcopy(base)
    other["config"]["tasks"][0]["load"]["source"] = "pairs"
    with pytest.raises(IncomparableRuns, match=r"tasks\[0\].load.source"):
        diff_results(base, other)
    other = copy.deepcopy(base)
    other["config"]["repeats"] = 10  # how a run is measured may differ
    assert diff_results(base, other).exit_code == 0


def test_different_machines_are_refused_unless_across_machines() -> None:
    other = document(1.5, 5)  # much slower, on another CPU
    other["machine"]["cpu_model"] = "other cpu"
    with pytest.raises(IncomparableRuns, match=r"different machines \(cpu vs other cpu\)"):
        diff_results(document(1, 1), other)
    result = diff_results(document(1, 1), other, across_machines=True)
    assert result.exit_code == 0 and not result.regressions  # never a regression
    assert wall_row(result.markdown)[7].startswith("machine comparison: slower")
    assert "note: machine comparison: base on cpu, new on other cpu" in result.markdown
    same = document(1.5, 5)
    assert diff_results(document(1, 1), same, across_machines=True).exit_code == 1


def test_cluster_sweeps_compare_each_point_by_the_node_it_ran_on() -> None:
    def sweep(cpu_per_point: list[str], wall_s: float) -> dict[str, Any]:
        doc = document(wall_s, 1)
        [m] = doc["measurements"]
        doc["measurements"] = [
            {**m, "point": i, "node": {"node_id": f"n{i}", "cpu_model": cpu}}
            for i, cpu in enumerate(cpu_per_point)
        ]
        return doc

    base, new = sweep(["cpu", "cpu"], 1.0), sweep(["cpu", "fast cpu"], 1.5)
    with pytest.raises(IncomparableRuns, match="different machines"):
        diff_results(base, new)
    result = diff_results(base, new, across_machines=True)
    table = [r for r in result.markdown.splitlines() if r.startswith("| point") and "wall_s" in r]
    assert len(table) == 2
    assert "machine comparison" not in table[0] and "machine comparison" in table[1]
    assert result.regressions == ["point 0, 0: load rs wall_s: 50.0% worse"]  # same CPU only


def test_diff_cli_refuses_another_machine_with_exit_2(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(runs["slower"], other)
    doc = json.loads((other / "results.json").read_text())
    doc["machine"]["cpu_model"] = "another cpu"
    (other / "results.json").write_text(json.dumps(doc))
    assert main(["diff", str(runs["base"]), str(other), "--figures", "throughput"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the runs come from different machines (") and err.count("\n") == 1
    args = ["diff", str(runs["base"]), str(other), "--figures", "throughput", "--across-machines"]
    assert main(args) == 0  # 10% slower, but on another machine: not a regression
    out = capsys.readouterr().out
    assert rows(out)[("a", "pairs_per_s")][7].startswith("machine comparison: slower")
    assert main(["diff", str(runs["base"]), str(runs["slower"]), "--figures", "throughput"]) == 1


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.1", 0.1), (" 12.5% ", 0.125)])
def test_threshold_parsing(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


def test_threshold_rejects_nonsense() -> None:
    with pytest.raises(HarnessError, match="expected a percentage"):
        parse_threshold("-5%")
