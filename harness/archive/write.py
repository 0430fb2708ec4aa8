"""`harness archive RUN`: a run's results.json to its archived record, and the archive read back.

    python -m harness archive RUN [--out results/archive] [--force]

writes `<out>/<machine-id>/<run-id>.json.gz` (record.py's models, machine_id.py's id) and prints
its path. The bytes are deterministic: the record's JSON in model order, gzip with mtime 0 and
no file name, so the same run archives to the same bytes. A folder without results.json, a run
that is not complete (still running, interrupted) and a run id archived already (without
--force) are refused with one line. `read_archive` is what `harness publish` reads.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zlib
from pathlib import Path

from pydantic import ValidationError

from harness.archive.machine_id import machine_id
from harness.archive.record import (
    ARCHIVE_FORMAT_VERSION,
    ARCHIVE_ROOT,
    SUFFIX,
    ArchivedMachine,
    ArchivedMeasurement,
    ArchivedPoint,
    ArchivedSweep,
    Record,
    record_path,
)
from harness.errors import HarnessError, first_error
from harness.results import Measurement, Results, load, measured_runs, throughput_of


def archived_machine(results: Results) -> ArchivedMachine:
    m = results.machine
    return ArchivedMachine(
        machine_id=machine_id(m),
        cpu_model=m.cpu_model,
        cpu_vendor=m.cpu_vendor,
        cpu_family=m.cpu_family,
        cpu_model_number=m.cpu_model_number,
        cpu_flags=m.cpu_flags,
        logical_cores=m.logical_cores,
        physical_cores=m.physical_cores,
        memory_bytes=m.memory_bytes,
        sgemm_gflops=m.sgemm_gflops,
        fma_peak_gflops=m.fma_peak_gflops,
        os=m.os,
        python=m.python,
        rustc=m.rustc,
    )


def archived_measurement(m: Measurement) -> ArchivedMeasurement:
    return ArchivedMeasurement(
        impl=m.impl,
        task=m.task,
        task_index=m.task_index,
        params=m.params,
        point=m.point,
        summary=m.summary,
        throughputs=[throughput_of(m.task, r) for r in measured_runs(m)],
    )


def to_record(results: Results, run_id: str) -> Record:
    """The archived record of a complete run's document; HarnessError if it is not complete."""
    if results.status != "complete":
        raise HarnessError(
            f"run {run_id} is {results.status}, not complete; only a finished run is archived"
            " (finish it with `python -m harness run --resume RUN`)"
        )
    sweep = None
    if results.sweep is not None:
        points = [ArchivedPoint(index=p.index, values=p.values) for p in results.sweep.points]
        sweep = ArchivedSweep(
            keys=results.sweep.keys, points=points, crossover=results.sweep.crossover
        )
    record = Record(
        format_version=ARCHIVE_FORMAT_VERSION,
        run_id=run_id,
        name=results.name,
        config=results.config,
        status=results.status,
        started_utc=results.started_utc,
        finished_utc=results.finished_utc,
        machine=archived_machine(results),
        git_commit=results.machine.git_commit,
        git_dirty=results.machine.git_dirty,
        implementations=results.implementations,
        measurements=[archived_measurement(m) for m in results.measurements],
        comparisons=results.comparisons or [],
        checks=results.checks,
        roofline=results.roofline,
        sweep=sweep,
        # given only when the run has serving figures: other runs archive to the same bytes
        **({"serving": results.serving} if results.serving else {}),
    )
    # Validated as the file will be read: the dumped record must parse back to itself.
    return parse_record(record.dump(), f"record of run {run_id}")


def record_bytes(record: Record) -> bytes:
    """The gzipped JSON of a record, the same bytes for the same record."""
    text = json.dumps(record.dump(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def parse_record(data: object, where: str) -> Record:
    if not isinstance(data, dict) or data.get("format_version") != ARCHIVE_FORMAT_VERSION:
        version = data.get("format_version") if isinstance(data, dict) else None
        raise HarnessError(
            f"{where}: not an archived record of format_version {ARCHIVE_FORMAT_VERSION}"
            f" (format_version {version!r})"
        )
    try:
        return Record.model_validate(data)
    except ValidationError as e:
        raise HarnessError(f"{where}: archived record invalid at {first_error(e)}") from None


def read_record(path: Path) -> Record:
    """One archived record; HarnessError naming the file if it is unreadable or invalid."""
    try:
        data = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: unreadable archived record: {e}") from None
    record = parse_record(data, str(path))
    expected = record_path(path.parent.parent, record.machine.machine_id, record.run_id)
    if path.name != expected.name or path.parent.name != record.machine.machine_id:
        raise HarnessError(
            f"{path}: holds run {record.run_id} of machine {record.machine.machine_id};"
            f" expected at {expected.parent.name}/{expected.name}"
        )
    return record


def read_archive(root: Path = ARCHIVE_ROOT) -> list[Record]:
    """Every record under `root`, by machine id, then start time (then run id)."""
    if not root.is_dir():
        raise HarnessError(f"{root}: no such folder; expected the archive of `harness archive`")
    records = [read_record(p) for p in sorted(root.glob(f"*/*{SUFFIX}"))]
    return sorted(records, key=lambda r: (r.machine.machine_id, r.started_utc, r.run_id))


def archive_run(run_dir: Path, out: Path = ARCHIVE_ROOT, force: bool = False) -> Path:
    """Write the record of the run at `run_dir` under `out`; the path written."""
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise HarnessError(f"{run_dir}: no results.json; expected a run folder of `harness run`")
    run_id = run_dir.resolve().name
    record = to_record(load(results_path), run_id)
    path = record_path(out, record.machine.machine_id, run_id)
    if path.exists() and not force:
        raise HarnessError(f"{path}: run {run_id} is archived already; --force replaces the record")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(record_bytes(record))
    tmp.replace(path)
    return path


def cmd_archive(args: argparse.Namespace) -> int:
    print(f"archived: {archive_run(args.run_dir, args.out or ARCHIVE_ROOT, args.force)}")
    return 0
