"""The typed results document (harness/results.py): round trip, schema, queries."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness import results
from harness.errors import HarnessError
from harness.run.summary import summarize_runs
from tests.harness.fakerun import fake_run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, run_dir = fake_run(
        tmp_path_factory.mktemp("results"),
        {"a": ["--rate", "100"], "b": ["--rate", "400"]},
    )
    return run_dir / "results.json"


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(results.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == results.json_schema(), "stale: run python -m harness.results"
    assert results.main(["--check"]) == 0


def test_a_real_results_json_validates_against_the_schema(real_run: Path) -> None:
    schema = json.loads(results.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(real_run.read_text(encoding="utf-8")), schema)


def test_load_and_save_keep_every_key_and_value(real_run: Path, tmp_path: Path) -> None:
    on_disk = json.loads(real_run.read_text(encoding="utf-8"))
    doc = results.load(real_run)
    assert doc.dump() == on_disk
    results.save(tmp_path / "results.json", doc)
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == real_run.read_text(
        encoding="utf-8"
    )
    with pytest.raises(Exception, match="frozen"):
        doc.status = "x"  # type: ignore[misc]


def test_load_refuses_unknown_versions_and_bad_fields(real_run: Path, tmp_path: Path) -> None:
    data = json.loads(real_run.read_text(encoding="utf-8"))
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(HarnessError, match="format_version 99 is not the known version 1"):
        results.load(path)
    data["measurements"][0]["runs"][0]["wall_s"] = "slow"
    with pytest.raises(HarnessError, match=r"invalid at measurements\.0\.runs\.0\.wall_s"):
        results.save(path, data)


def test_queries_measured_runs_groups_and_throughput(real_run: Path) -> None:
    doc = results.load(real_run)
    m = results.find(doc, "b", 0)
    runs = results.measured_runs(m)
    assert [r.repeat for r in runs] == [1, 2, 3, 4, 5]  # repeat 0 is the warm-up
    assert results.measured_runs(results.Measurement.model_validate(m.dump())) == runs
    groups = results.by_task(doc.measurements)
    assert [(i, [x.impl for x in g]) for i, g in groups] == [(0, ["a", "b"])]
    assert results.throughput_of("sample", runs[0]) == runs[0].metrics["pairs_per_s"]
    summary = summarize_runs("sample", m.runs)
    assert summary is not None and summary.dump() == m.dump()["summary"]
