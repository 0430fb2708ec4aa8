"""An archived record (`results/archive/<machine-id>/<run-id>.json.gz`): one run, compact.

A record is what the answer of the benchmark is made from (`harness publish` reads the
archive alone): a typed, schema-validated summary of one run's results.json, small enough to
commit. It holds the run's identity (run id, config name and config, start and finish), the
machine (its facts, probes and machine id), the commit, the implementations' versions, every
measurement's Summary with the throughput values of its measured runs (what the statistics
need: nothing else raw), every Comparison, every Check, the roofline, the sweep's points and
crossover, and a serve run's `serving[]` (docs/reports.md, "Serving"). It holds no job folders,
no runs' events, metrics or phases.

The models embed the results models themselves where a record keeps a section whole
(`Summary`, `Comparison`, `Check`, `Implementation`, `Roofline`, `CrossoverSeries`, `Serving`),
so a field added there is archived too. Like results.py's, every model is frozen and forbids
keys it does not name.

Format history (`format_version`): 1, the first; `serving` was added to it as an optional field
(absent in the records written before), which every reader of version 1 accepts.

`docs/schemas/archive.schema.json` is generated from these models:
`python -m harness.archive.record` (`--check` compares).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.process.protocol import REPO_ROOT
from harness.result_sections import CrossoverSeries, Num, Roofline, Serving, _Model
from harness.results import Check, Comparison, Implementation, Summary
from harness.schema import schema_command, schema_document

ARCHIVE_FORMAT_VERSION = 1
ARCHIVE_ROOT = REPO_ROOT / "results" / "archive"
SCHEMA_PATH = REPO_ROOT / "docs" / "schemas" / "archive.schema.json"
SUFFIX = ".json.gz"


class ArchivedMachine(_Model):
    """The machine a run was measured on: its id (machine_id.py), CPU, probes and software."""

    machine_id: str  # e.g. amd-zen4-avx512-2c: the archive's folder for this machine
    cpu_model: str | None
    cpu_vendor: str | None = None  # /proc/cpuinfo's vendor_id, where results.json records it
    cpu_family: int | None = None
    cpu_model_number: int | None = None
    cpu_flags: list[str] | None
    logical_cores: int | None
    physical_cores: int | None
    memory_bytes: int | None
    sgemm_gflops: Num | None
    fma_peak_gflops: Num | None
    os: str | None
    python: str | None
    rustc: str | None


class ArchivedMeasurement(_Model):
    """One implementation on one task (at one sweep point): its Summary and throughputs."""

    impl: str
    task: str
    task_index: int
    params: dict[str, Any]
    point: int | None = None  # the sweep's point (Record.sweep.points[point]); None outside one
    summary: Summary | None
    # The task's throughput metric of each measured run, in the order they ran (None where a
    # run reported none): what the comparisons' intervals and tests are computed from.
    throughputs: list[Num | None]


class ArchivedPoint(_Model):
    """One point of a sweep: its index and the swept keys' values."""

    index: int
    values: dict[str, Any]


class ArchivedSweep(_Model):
    """A sweep run: the swept keys, its points and the crossover analysis if it has one."""

    keys: list[str]
    points: list[ArchivedPoint]
    crossover: list[CrossoverSeries] | None = None


class Record(_Model):
    """The archived record of one run."""

    format_version: int
    run_id: str  # the run's folder name, e.g. answer-20261207-131500
    name: str  # the config's name
    config: dict[str, Any]  # the config as read
    status: str  # always complete: only a finished run is archived
    started_utc: str
    finished_utc: str | None
    machine: ArchivedMachine
    git_commit: str | None
    git_dirty: bool | None
    implementations: dict[str, Implementation]  # language and versions of each
    measurements: list[ArchivedMeasurement]
    comparisons: list[Comparison]
    checks: list[Check]
    roofline: Roofline | None = None
    sweep: ArchivedSweep | None = None
    serving: list[Serving] | None = None  # a serve run's (configs/serve.yaml); None otherwise


def record_path(root: Path, machine_id: str, run_id: str) -> Path:
    """Where a record lives in the archive at `root`: <root>/<machine-id>/<run-id>.json.gz."""
    return root / machine_id / f"{run_id}{SUFFIX}"


def json_schema() -> dict[str, Any]:
    """JSON Schema of an archived record, generated from the models."""
    return schema_document(
        Record,
        "archive.schema.json",
        f"An archived record (results/archive/<machine-id>/<run-id>{SUFFIX}), format_version "
        f"{ARCHIVE_FORMAT_VERSION}; generated from harness/archive/record.py by "
        "`python -m harness.archive.record`, do not edit",
    )


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with --check, compare) docs/schemas/archive.schema.json."""
    return schema_command(SCHEMA_PATH, schema_text(), "python -m harness.archive.record", argv)


if __name__ == "__main__":
    raise SystemExit(main())
