"""The results archive: a fake run to its record and back, determinism, refusals, the schema."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from harness.archive import record as record_module
from harness.archive.machine_id import machine_id
from harness.archive.record import ARCHIVE_FORMAT_VERSION, Record, json_schema, record_path
from harness.archive.write import (
    archive_run,
    read_archive,
    read_record,
    record_bytes,
    to_record,
)
from harness.cli import main as cli_main
from harness.errors import HarnessError
from harness.results import load, measured_runs, throughput_of
from tests.harness.fakerun import fake_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    _, out = fake_run(folder, {"a": ["--rate", "100"], "b": ["--rate", "300"]}, repeats=3)
    return out


def test_a_fake_run_round_trips_to_its_record(run_dir: Path, tmp_path: Path) -> None:
    results = load(run_dir / "results.json")
    path = archive_run(run_dir, tmp_path)
    mid = machine_id(results.machine)
    assert path == tmp_path / mid / f"{run_dir.name}.json.gz"
    back = read_record(path)
    assert back == to_record(results, run_dir.name)
    assert back.format_version == ARCHIVE_FORMAT_VERSION
    assert (back.run_id, back.name, back.status) == (run_dir.name, "fake", "complete")
    assert back.config == results.config
    assert (back.started_utc, back.finished_utc) == (results.started_utc, results.finished_utc)
    assert back.machine.machine_id == mid
    assert back.machine.cpu_model == results.machine.cpu_model
    assert back.machine.cpu_family == results.machine.cpu_family
    assert back.git_commit == results.machine.git_commit
    assert back.implementations == results.implementations
    assert len(back.measurements) == len(results.measurements) == 2
    for archived, m in zip(back.measurements, results.measurements, strict=True):
        assert (archived.impl, archived.task, archived.task_index) == (m.impl, m.task, 0)
        assert archived.params == m.params and archived.summary == m.summary
        assert archived.throughputs == [throughput_of(m.task, r) for r in measured_runs(m)]
        assert len(archived.throughputs) == 3 and None not in archived.throughputs
    assert back.comparisons == results.comparisons and back.comparisons
    assert back.checks == results.checks
    assert back.roofline == results.roofline
    assert back.sweep is None
    # Compact: no runs, jobs, events or metrics; every key is the model's.
    text = gzip.decompress(path.read_bytes()).decode()
    assert '"runs": [' not in text and '"metrics"' not in text and '"dir"' not in text
    assert Record.model_validate(json.loads(text)) == back
    assert path.stat().st_size < 6000


def test_the_same_run_archives_to_the_same_bytes(run_dir: Path, tmp_path: Path) -> None:
    first = archive_run(run_dir, tmp_path / "one").read_bytes()
    second = archive_run(run_dir, tmp_path / "two").read_bytes()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip's mtime field
    again = archive_run(run_dir, tmp_path / "one", force=True).read_bytes()
    assert again == first


def test_the_cli_archives_and_refuses_a_second_time(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["archive", str(run_dir), "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.strip()
    assert written.startswith("archived: ") and Path(written.split(" ", 1)[1]).is_file()
    assert cli_main(["archive", str(run_dir), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "archived already" in err and "--force" in err and "\n" not in err
    assert cli_main(["archive", str(run_dir), "--out", str(tmp_path), "--force"]) == 0


def test_a_folder_without_results_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["archive", str(tmp_path), "--out", str(tmp_path / "archive")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path}: no results.json; expected a run folder of `harness run`"
    assert not (tmp_path / "archive").exists()


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_a_run_not_complete_is_refused(run_dir: Path, tmp_path: Path, status: str) -> None:
    copy = tmp_path / "answer-20261207-131500"
    copy.mkdir()
    doc = json.loads((run_dir / "results.json").read_text())
    (copy / "results.json").write_text(json.dumps({**doc, "status": status}))
    with pytest.raises(HarnessError, match=f"run answer-20261207-131500 is {status}, not comp"):
        archive_run(copy, tmp_path / "archive")
    assert not (tmp_path / "archive").exists()


def test_read_archive_sorts_by_machine_then_start(run_dir: Path, tmp_path: Path) -> None:
    base = to_record(load(run_dir / "results.json"), "run")
    for mid, run_id, started in [
        ("intel-sapphirerapids-avx512-amx-2c", "r2", "2026-12-02T00:00:00+00:00"),
        ("amd-zen3-avx2-2c", "r3", "2026-12-03T00:00:00+00:00"),
        ("amd-zen3-avx2-2c", "r1", "2026-12-01T00:00:00+00:00"),
    ]:
        machine = base.machine.model_copy(update={"machine_id": mid})
        rec = base.model_copy(update={"run_id": run_id, "started_utc": started, "machine": machine})
        path = record_path(tmp_path, mid, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(record_bytes(rec))
    records = read_archive(tmp_path)
    assert [(r.machine.machine_id, r.run_id) for r in records] == [
        ("amd-zen3-avx2-2c", "r1"),
        ("amd-zen3-avx2-2c", "r3"),
        ("intel-sapphirerapids-avx512-amx-2c", "r2"),
    ]


def test_a_bad_archived_file_is_named(run_dir: Path, tmp_path: Path) -> None:
    path = archive_run(run_dir, tmp_path)
    good = path.read_bytes()
    path.write_bytes(b"not gzip")
    with pytest.raises(HarnessError, match=f"^{path}: unreadable archived record"):
        read_archive(tmp_path)
    doc = json.loads(gzip.decompress(good))
    doc["machine"]["extra"] = 1
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(HarnessError, match=f"^{path}: archived record invalid at machine.extra"):
        read_archive(tmp_path)
    path.write_bytes(gzip.compress(json.dumps({**doc, "format_version": 9}).encode()))
    with pytest.raises(HarnessError, match="not an archived record of format_version 1"):
        read_archive(tmp_path)
    moved = tmp_path / "amd-other-avx2-2c" / path.name
    moved.parent.mkdir()
    path.rename(moved)
    moved.write_bytes(good)
    with pytest.raises(HarnessError, match=f"^{moved}: holds run run of machine"):
        read_archive(tmp_path)
    with pytest.raises(HarnessError, match="no such folder"):
        read_archive(tmp_path / "none")


def test_the_archive_schema_is_generated_from_the_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record_module.main(["--check"]) == 0, "run python -m harness.archive.record"
    schema = json_schema()
    assert set(schema["required"]) >= {"run_id", "machine", "measurements", "comparisons"}
    assert "Comparison" in schema["$defs"] and "Check" in schema["$defs"]
    stale = tmp_path / "archive.schema.json"
    stale.write_text(record_module.schema_text().replace("machine_id", "machine"))
    monkeypatch.setattr(record_module, "SCHEMA_PATH", stale)
    assert record_module.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out


def test_the_archive_is_tracked_and_other_run_folders_are_not() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")

    def ignored(path: str) -> bool:
        probe = ["git", "check-ignore", "-q", path]
        return subprocess.run(probe, cwd=REPO, check=False).returncode == 0

    assert not ignored("results/archive/amd-zen4-avx512-2c/answer-20261207-131500.json.gz")
    assert ignored("results/answer-20261207-131500/results.json")
