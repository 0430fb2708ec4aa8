"""Golden files: report.md, the pytest-benchmark export and the diff table of two frozen runs.

The inputs are two results.json documents of fake runs (tests/harness/fakerun.py), frozen in
tests/harness/golden/input/ with their clock, machine and paths fixed, so every output below is
a pure function of them and of the code that renders it. A change to a table, a cell's format or
an export field shows here as a diff of a golden file, to be read and committed on purpose.

Regenerate after an intended change (docs/testing.md, "Adding a test"):

    ONESHOT_UPDATE_GOLDEN=1 python -m pytest -q tests/harness/test_golden.py

`ONESHOT_UPDATE_GOLDEN=inputs` also re-runs the fake runs into new frozen inputs (their
measured figures change, so every golden output changes with them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.export.pytest_benchmark import export
from harness.report.diff import diff_results
from harness.report.markdown import render
from harness.results import parse

GOLDEN = Path(__file__).with_name("golden")
INPUT = GOLDEN / "input"
UPDATE = os.environ.get("ONESHOT_UPDATE_GOLDEN", "")
RUN_DIR = Path("/golden/run")  # the folder the report names; nothing is read from it

JITTER = ["--jitter", "0.03"]
RUNS = {  # input name -> (rate of a, jitter seed)
    "base": (100.0, 1),
    "new": (90.0, 2),
}
FIXED_MACHINE = {
    "cpu_model": "Golden CPU",
    "cpu_flags": ["avx", "avx2", "fma"],
    "logical_cores": 2,
    "physical_cores": 2,
    "memory_bytes": 8 << 30,
    "os": "Linux-golden",
    "python": "3.11.0",
    "rustc": "rustc 1.95.0",
    "load_avg_1m": 0.5,
    "git_commit": "0" * 40,
    "git_dirty": False,
}


def freeze(doc: dict[str, Any]) -> dict[str, Any]:
    """Fix what differs between two runs of the same fake run: clock, machine, folders."""
    doc = json.loads(json.dumps(doc))
    doc["started_utc"] = "2026-01-01T00:00:00+00:00"
    doc["finished_utc"] = "2026-01-01T00:00:05+00:00"
    doc["machine"].update(FIXED_MACHINE)
    doc["dataset"]["root"] = "/golden/data"
    doc["config"]["dataset"]["root"] = "/golden/data"
    return doc


def build_inputs(tmp: Path) -> None:
    from tests.harness.fakerun import fake_run, tiny_dataset

    data = tiny_dataset(tmp)
    INPUT.mkdir(parents=True, exist_ok=True)
    for name, (rate, seed) in RUNS.items():
        impls = {
            "a": ["--rate", str(rate), "--losses", "6", *JITTER, "--jitter-seed", str(seed)],
            "b": ["--rate", "250", "--losses", "6", *JITTER, "--jitter-seed", str(seed + 100)],
        }
        doc, _ = fake_run(tmp / name, impls, data=data, repeats=5)
        text = json.dumps(freeze(doc), indent=2, sort_keys=True) + "\n"
        (INPUT / f"{name}.json").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if UPDATE == "inputs":
        build_inputs(tmp_path_factory.mktemp("golden"))
    return {name: json.loads((INPUT / f"{name}.json").read_text()) for name in RUNS}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} missing: run with ONESHOT_UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{path} differs from the rendered output; if the change is intended, regenerate with "
        "ONESHOT_UPDATE_GOLDEN=1 and commit the diff"
    )


def test_report_md_matches_its_golden_file(docs: dict[str, dict[str, Any]]) -> None:
    check_golden("report.md", render(parse(docs["base"], "golden/input/base.json"), RUN_DIR))


def test_pytest_benchmark_export_matches_its_golden_file(
    docs: dict[str, dict[str, Any]],
) -> None:
    doc = export(parse(docs["base"], "golden/input/base.json"))
    check_golden("pytest-benchmark.json", json.dumps(doc, indent=2) + "\n")


def test_diff_table_matches_its_golden_file(docs: dict[str, dict[str, Any]]) -> None:
    base, new = (parse(docs[k], f"golden/input/{k}.json") for k in ("base", "new"))
    result = diff_results(base, new, threshold=0.05)
    regressions = "".join(f"regression: {r}\n" for r in result.regressions)
    notes = "".join(f"note: {n}\n" for n in result.notes)
    check_golden("diff.md", result.markdown + "\n" + regressions + notes)


def test_a_changed_output_fails_its_golden_check() -> None:
    if UPDATE:
        pytest.skip("regenerating golden files")
    text = (GOLDEN / "report.md").read_text(encoding="utf-8")
    with pytest.raises(AssertionError, match="differs from the rendered output"):
        check_golden("report.md", text.replace("| a |", "| A |", 1))
