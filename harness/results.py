"""The results document (`results.json`): typed, immutable models, load/save and its queries.

One `Results` per run folder. `harness run` builds the pieces here (a `Run` per job, a `Summary`
per measurement) and saves after every job; every reader (checks, comparisons, phases,
roofline, report, diff, export, list) loads it with `load` or `parse`, and every later step
works on the models: an update is a new model (`model_copy(update=...)`, `with_measurement`,
`with_run`), and the dict exists only where the file is read and written. The models are
frozen pydantic models; fields an older writer may leave out are optional, and a document
round-trips with the same keys and values (`dump` leaves out only what was never set). Numbers
are `int | float`: an integer stays an integer in the file.

Every model forbids keys it does not name (`extra="forbid"`): a misspelt key is an error, at
the write as at the read. What writers outside the harness put in the document is kept in
dict fields instead, never in a model's unknown keys: a run's `metrics` and `outputs` (the
implementation's result.json), `config` (the config as read), a measurement's `params`,
`implementations[].versions` (what each implementation reports of itself) and
`dataset.synthetic`; so no model needs `extra="allow"`.

Format history (`format_version`):
- 1: the first recorded format (protocol 1); `comparisons`, `roofline`, `runs[].phase_resources`
  and `measurements[].phase_summary` are written after the last job, `summary.startup_s` when
  the implementation announced its start-up. A sweep's document (`sweep`, added later, still
  format 1: optional fields only) holds every point's measurements, checks and comparisons,
  each with its `point`; each point's own folder holds an ordinary document. Unknown keys
  became an error (`extra="forbid"`) within format 1: every key a format-1 writer wrote is a
  field (the last three: `checks[].baseline_spread`, `sweep.points[].sgemm_gflops` and
  `fma_peak_gflops`), so the file did not change. `machine.cpu_vendor`, `cpu_family` and
  `cpu_model_number` (the archive's machine id, harness/archive) were added later, format 1:
  optional fields, absent from older runs. `comparisons[].p_adjusted` (Benjamini-Hochberg over
  the run's comparisons; `significant` is decided on it from then on) and `cliffs_delta` (the
  effect size) were added later, format 1: optional fields, absent from older runs. `serving[]`
  (the `serve` task's latencies, cold start, footprint and answers, analysis/serving.py) was
  added later, format 1: an optional field, absent from older runs; with it
  `runs[].evicted_bytes` and `resident_bytes` (`page_cache: evict`), optional.

`docs/schemas/results.schema.json` is generated from these models: `python -m harness.results`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError, first_error
from harness.process.protocol import REPO_ROOT, THROUGHPUT, atomic_write_json
from harness.result_sections import (
    BlasPool,
    ClusterInfo,
    ClusterNode,
    Crossing,
    CrossoverImpl,
    CrossoverPoint,
    CrossoverRatio,
    CrossoverSeries,
    FmaProbe,
    FmaVariant,
    LatencyQuantile,
    Machine,
    NodeInfo,
    NodeSummary,
    Num,
    PerOp,
    PhaseResources,
    PhaseSummary,
    PointFigures,
    Quality,
    QualityEvaluation,
    QualityImpl,
    QualityRun,
    QualitySummary,
    Roofline,
    RooflineTask,
    Serving,
    SgemmProbe,
    Stat,
    _Model,
)
from harness.schema import schema_command, schema_document

# The section models (result_sections.py) are the document's too: re-exported.
__all__ = [
    "BlasPool",
    "ClusterInfo",
    "ClusterNode",
    "Crossing",
    "CrossoverImpl",
    "CrossoverPoint",
    "CrossoverRatio",
    "CrossoverSeries",
    "FmaProbe",
    "FmaVariant",
    "LatencyQuantile",
    "Machine",
    "NodeInfo",
    "NodeSummary",
    "Num",
    "PerOp",
    "PhaseResources",
    "PhaseSummary",
    "PointFigures",
    "Quality",
    "QualityEvaluation",
    "QualityImpl",
    "QualityRun",
    "QualitySummary",
    "Roofline",
    "RooflineTask",
    "Serving",
    "SgemmProbe",
    "Stat",
]

RESULTS_FORMAT_VERSION = 1
SCHEMA_PATH = REPO_ROOT / "docs" / "schemas" / "results.schema.json"


class Phase(_Model):
    """A phase interval an implementation announced, on the harness's clock."""

    name: str
    begin_s: Num
    end_s: Num


class Run(_Model):
    """One job: one implementation running one task once (a warm-up or a measured repeat)."""

    repeat: int
    warmup: bool
    dir: str
    wall_s: Num
    user_s: Num
    sys_s: Num
    peak_rss_bytes: Num
    sampled_peak_rss_bytes: Num
    startup_s: Num | None
    exit_code: int | None
    signal: int | None
    timed_out: bool
    out_of_memory: bool
    phases: list[Phase]
    ok: bool
    error: str | None
    metrics: dict[str, Any]
    outputs: dict[str, str]
    phase_resources: list[PhaseResources] | None = None
    seed: int | None = None  # the job's seed when the task varies it per repeat (`vary_seed`)
    # `page_cache: evict` (a serve task): the bytes of the files dropped from the page cache
    # before the job, and how many of them stayed cached (mapped by another process)
    evicted_bytes: int | None = None
    resident_bytes: int | None = None

    @property
    def measured(self) -> bool:
        """A run that counts: it succeeded and was not a warm-up."""
        return self.ok and not self.warmup


class Throughput(_Model):
    """A Stat of the task's throughput metric (protocol.THROUGHPUT), with its name and unit."""

    metric: str
    unit: str
    median: Num
    iqr: Num
    min: Num
    max: Num
    n: int


class Summary(_Model):
    """A measurement's figures over its measured runs."""

    runs: int
    failed_runs: int
    wall_s: Stat
    cpu_s: Stat
    peak_rss_bytes: Stat
    throughput: Throughput | None
    startup_s: Stat | None = None


class Measurement(_Model):
    """Every run of one implementation on one task of the config."""

    impl: str
    task: str
    task_index: int
    params: dict[str, Any]
    planned_runs: int
    shared_inputs: bool = True
    runs: list[Run]
    summary: Summary | None
    phase_summary: list[PhaseSummary] | None = None
    point: int | None = None  # a sweep's point (Results.sweep.points[point]); None outside one
    node: NodeSummary | None = None  # the cluster node the point ran on (node_id, ip, cpu)

    def with_run(self, run: Run, summary: Summary | None) -> Measurement:
        """This measurement with one more run and its summary over all its runs."""
        return self.model_copy(update={"runs": [*self.runs, run], "summary": summary})


class Build(_Model):
    impl: str
    ok: bool
    wall_s: Num
    log: str


class Implementation(_Model):
    language: str
    versions: dict[str, Any]


class Check(_Model):
    """An output check between the baseline and one other implementation (analysis/checks.py)."""

    name: str
    task_index: int
    impls: list[str]
    value: Num | None
    tolerance: Num | None
    ok: bool
    detail: str
    # The float64 referee of `forward` and `gradients` (analysis/reference64.py): each
    # implementation's relative error from float64 on the recomputed subset, the limit they were
    # judged against, and a numpy float32 computation's own error (float32 rounding alone).
    f64_errors: dict[str, Num] | None = None
    f64_tolerance: Num | None = None
    f32_floor: Num | None = None
    point: int | None = None
    # `curves`: the baseline's own spread against its rerun (results.reruns), None if not finite
    baseline_spread: Num | None = None


class Comparison(_Model):
    """A figure of one implementation against the baseline's, as a ratio (analysis/ratios.py)."""

    task: str
    task_index: int
    baseline: str
    impl: str
    metric: str
    unit: str
    higher_is_better: bool
    ratio: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None
    p_value: Num | None = None
    p_adjusted: Num | None = None  # Benjamini-Hochberg over the run's comparisons made
    cliffs_delta: Num | None = None  # effect size: P(impl > baseline) - P(impl < baseline)
    significant: bool | None = None
    paired: bool | None = None
    n_baseline: int | None = None
    n_impl: int | None = None
    refused: str | None = None
    warning: str | None = None
    point: int | None = None


class Dataset(_Model):
    """The data set the jobs read (datasets.py): where it is and its fingerprint."""

    source: str
    root: str
    eval_root: str | None = None
    images: int | None = None
    sha256: str
    synthetic: dict[str, Any] | None = None


class SweepPoint(_Model):
    """One point of a sweep: the swept keys' values, its own run folder and where it stands."""

    index: int
    values: dict[str, Any]
    dir: str
    status: str  # pending | running | complete | interrupted | failed
    node: NodeInfo | None = None  # run on a cluster node (harness/cluster): its facts
    reason: str | None = None  # why a point failed (a cluster task lost with its node, ...)
    # The point's own probes (its results.json's `machine`), absent before it finished.
    sgemm_gflops: Num | None = None
    fma_peak_gflops: Num | None = None


class Sweep(_Model):
    """A sweep run (harness/run/sweep.py): the grid, its points and the crossover analysis."""

    keys: list[str]
    points: list[SweepPoint]
    crossover: list[CrossoverSeries] | None = None


class _RerunKeys(_Model):
    task_index: int
    impl: str
    threads: int


class Rerun(Run, _RerunKeys):
    """`reruns[]`: the baseline's rerun of a compared `step` task at another thread count, for
    the `curves` check (run/job.py rerun_baseline): which task, implementation and threads,
    then the run."""


class Results(_Model):
    """The whole document of one run (of a sweep: every point's measurements, with `point`)."""

    format_version: int
    protocol: int
    name: str
    device: str = "cpu"
    status: str
    started_utc: str
    finished_utc: str | None
    machine: Machine
    config: dict[str, Any]
    dataset: Dataset
    implementations: dict[str, Implementation]
    builds: list[Build]
    measurements: list[Measurement]
    checks: list[Check]
    comparisons: list[Comparison] | None = None
    roofline: Roofline | None = None
    sweep: Sweep | None = None
    quality: list[Quality] | None = None  # per train task (analysis/quality.py)
    serving: list[Serving] | None = None  # per serve task and implementation (analysis/serving.py)
    reruns: list[Rerun] | None = None  # the baseline's reruns for the curves check
    cluster: ClusterInfo | None = None  # run with --cluster: address, benchmark nodes
    node: NodeInfo | None = None  # a run (no sweep) on a cluster node: its facts

    def with_measurement(self, m: Measurement) -> Results:
        """This document with the measurement of m's implementation, task and point replaced."""
        key = (m.impl, m.task_index, m.point)
        ms = [m if (x.impl, x.task_index, x.point) == key else x for x in self.measurements]
        return self.model_copy(update={"measurements": ms})


# --- reading and writing ---------------------------------------------------------------------


def parse(data: Mapping[str, Any], where: str = "results.json") -> Results:
    """A results document from its JSON dict; HarnessError naming the first bad field."""
    if not isinstance(data, Mapping) or "measurements" not in data:
        raise HarnessError(f"{where}: not a results document (no `measurements`)")
    if data.get("format_version") != RESULTS_FORMAT_VERSION:
        raise HarnessError(
            f"{where}: results format_version {data.get('format_version')!r} is not the known "
            f"version {RESULTS_FORMAT_VERSION}"
        )
    try:
        return Results.model_validate(data)
    except ValidationError as e:
        raise HarnessError(f"{where}: results document invalid at {first_error(e)}") from None


def load(path: Path) -> Results:
    """results.json at `path`, checked to be a results document of the known format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: unreadable results.json: {e}") from None
    return parse(data, str(path))


def save(path: Path, results: Results | Mapping[str, Any]) -> None:
    """Write the document atomically (temp file, fsync, rename); a dict is validated first."""
    doc = results if isinstance(results, Results) else parse(results, str(path))
    atomic_write_json(path, doc.dump())


# --- the queries everyone needs --------------------------------------------------------------


def is_measured(run: Run) -> bool:
    """A run that counts: it succeeded and was not a warm-up."""
    return run.measured


def measured(runs: Iterable[Run]) -> list[Run]:
    """The runs that count (ok and not warm-up), in the order they ran."""
    return [r for r in runs if r.measured]


def measured_runs(m: Measurement) -> list[Run]:
    """The measured runs of a measurement."""
    return measured(m.runs)


def by_task(measurements: Iterable[Measurement]) -> list[tuple[int, list[Measurement]]]:
    """(task_index, its measurements in config order of implementations), by task_index."""
    groups: dict[int, list[Measurement]] = {}
    for m in measurements:
        groups.setdefault(m.task_index, []).append(m)
    return sorted(groups.items())


def find(results: Results, impl: str, task_index: int) -> Measurement:
    for m in results.measurements:
        if m.impl == impl and m.task_index == task_index:
            return m
    raise KeyError((impl, task_index))


def throughput_of(task: str, run: Run) -> float | None:
    """The task's steady-state throughput metric of one run (THROUGHPUT), None if absent."""
    value = run.metrics.get(THROUGHPUT.get(task, ("", ""))[0])
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- the schema ------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """JSON Schema of results.json, generated from the models."""
    return schema_document(
        Results,
        "results.schema.json",
        f"results.json of `harness run`, format_version {RESULTS_FORMAT_VERSION}; generated "
        "from harness/results.py by `python -m harness.results`, do not edit",
    )


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with --check, compare) docs/schemas/results.schema.json."""
    return schema_command(SCHEMA_PATH, schema_text(), "python -m harness.results", argv)


if __name__ == "__main__":
    raise SystemExit(main())
