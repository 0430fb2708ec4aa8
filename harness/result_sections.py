"""The sections of the results document (`results.json`) below its top-level records.

harness/results.py holds the document itself (`Results`, `Measurement`, `Run`, ...), reading,
writing and the queries; this module holds the records its sections are made of: the phase
resources, the probes' records, the roofline, the quality records, the cluster's facts and the
crossover analysis. It imports nothing of the harness (results.py re-exports every model), so
any layer may use it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Num = int | float


class _Model(BaseModel):
    """Every model of the document: frozen, and a key it does not name is an error (results.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict of this model: the keys it was given, in the file's order."""
        return self.model_dump(exclude_unset=True)


class Stat(_Model):
    """median, iqr, min, max and n of a figure over the measured runs."""

    median: Num
    iqr: Num
    min: Num
    max: Num
    n: int


class PhaseResources(_Model):
    """The sampled resources of one phase of a run (analysis/phases.py): `phase_resources[]`."""

    name: str
    begin_s: Num
    end_s: Num
    wall_s: Num
    samples: int
    peak_rss_bytes: Num | None
    mean_rss_bytes: Num | None
    mean_cpu_percent: Num | None
    cpu_s: Num | None


class PhaseSummary(_Model):
    """A phase's medians over a measurement's measured runs: `measurements[].phase_summary`."""

    name: str
    wall_s: Num
    peak_rss_bytes: Num | None


class NodeSummary(_Model):
    """The few facts of a cluster node each measurement carries (run/sweep.py node_summary)."""

    node_id: str | None = None
    ip: str | None = None
    hostname: str | None = None
    cpu_model: str | None = None


class BlasPool(_Model):
    """One BLAS thread pool threadpoolctl saw in the SGEMM probe."""

    user_api: str | None = None
    internal_api: str | None = None
    version: str | None = None
    architecture: str | None = None
    threading_layer: str | None = None
    num_threads: int | None = None
    filepath: str


class SgemmProbe(_Model):
    """The SGEMM probe's record (analysis/roofline.py measure_peak): `machine.sgemm`. A probe
    subprocess writes it, and older runs lack some keys: every field is optional."""

    size: int | None = None
    repeats: int | None = None
    threads: int | None = None
    numpy_gflops: Num | None = None
    numpy_blas: list[BlasPool] | None = None
    torch_gflops: Num | None = None
    torch_blas: list[BlasPool] | None = None
    torch_version: str | None = None  # absent without torch
    torch_mkl: bool | None = None
    sgemm_gflops: Num | None = None
    best: str | None = None
    numpy_version: str | None = None
    unset_openblas_coretype: bool | None = None
    unset_env: list[str] | None = None
    env: dict[str, str | None] | None = None


class FmaVariant(_Model):
    """One variant of the FMA probe (AVX-512 or AVX2 chains): `machine.fma_peak.variants[v]`."""

    gflops: Num
    threads: int | None = None
    seconds: Num | None = None
    repeat_gflops: list[Num] | None = None
    flops_per_cycle_per_core: Num | None = None
    checksum: Num | None = None


class FmaProbe(_Model):
    """The FMA probe's record (analysis/fmapeak.py): `machine.fma_peak`; a failed probe has
    only `fma_peak_gflops: null` and its `reason`."""

    fma_peak_gflops: Num | None = None
    best: str | None = None
    threads: int | None = None
    duration_s: Num | None = None
    warmup_s: Num | None = None
    repeats: int | None = None
    cpu_mhz: Num | None = None
    flops_per_cycle_per_core: Num | None = None
    variants: dict[str, FmaVariant] | None = None
    skipped: dict[str, str] | None = None
    binary: str | None = None
    reason: str | None = None


class Machine(_Model):
    """Facts of the machine the run ran on (machine.py); `sgemm*`, `fma_peak*` after the probes."""

    cpu_model: str | None = None
    cpu_flags: list[str] | None = None
    cpu_vendor: str | None = None  # /proc/cpuinfo's vendor_id, cpu family and model (x86)
    cpu_family: int | None = None
    cpu_model_number: int | None = None
    logical_cores: int | None = None
    physical_cores: int | None = None
    memory_bytes: int | None = None
    os: str | None = None
    python: str | None = None
    rustc: str | None = None
    load_avg_1m: Num | None = None
    env: dict[str, str | None] | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    sgemm_gflops: Num | None = None
    sgemm: SgemmProbe | None = None
    fma_peak_gflops: Num | None = None
    fma_peak: FmaProbe | None = None


class RooflineTask(_Model):
    """A compute measurement's median achieved GFLOP/s and its shares of the two peaks."""

    task: str
    task_index: int
    impl: str
    gflop_per_s: Num
    share_of_peak: Num | None
    share_of_fma_peak: Num | None = None
    runs: int


class Roofline(_Model):
    """The SGEMM probe's outcome and one row per compute measurement (analysis/roofline.py)."""

    measured: bool
    reason: str | None
    tasks: list[RooflineTask]


class ClusterNode(_Model):
    """A benchmark node of the cluster as Ray lists it (cluster/driver.py benchmark_nodes)."""

    node_id: str
    ip: str | None
    hostname: str | None


class ClusterInfo(_Model):
    """`cluster`: a run with --cluster: the address and the benchmark nodes it found."""

    address: str
    nodes: list[ClusterNode]


class _NodeKeys(_Model):
    node_id: str
    ip: str | None
    hostname: str | None


class NodeInfo(Machine, _NodeKeys):
    """A cluster node's facts (cluster/node.py node_facts, node.json): Ray's node id, address
    and host name, then machine.py's facts."""


class PointFigures(_Model):
    """One implementation's figures at one crossover point (analysis/crossover.py)."""

    throughput: Num | None
    gflop_per_s: Num | None
    share_of_fma_peak: Num | None
    share_of_sgemm_peak: Num | None
    peak_rss_bytes: Num | None


class CrossoverPoint(_Model):
    """A sweep point on a crossover series, at its work per call."""

    point: int
    values: dict[str, Any]
    work_gflop: Num
    impls: dict[str, PointFigures]


class CrossoverRatio(_Model):
    """An implementation's throughput ratio to the baseline at one point of a series."""

    point: int
    work_gflop: Num
    ratio: Num
    ci_low: Num | None
    ci_high: Num | None
    significant: bool | None


class Crossing(_Model):
    """Where a ratio crosses 1 between two neighbouring points (log-log interpolated)."""

    work_gflop: Num
    between: list[Num]
    faster: str  # below | above
    clear: bool  # both neighbours' 95% intervals exclude 1


class PerOp(_Model):
    """The time per operator call at a series' smallest point (`ops_per_call` reporters)."""

    ops_per_call: int
    s_per_call: Num
    us_per_op: Num


class CrossoverImpl(_Model):
    """One implementation along a series: its ratios, crossings and sentence (the baseline
    has none of these), and its per-operator time when it reports `ops_per_call`."""

    ratios: list[CrossoverRatio] | None = None
    crossings: list[Crossing] | None = None
    summary: str | None = None
    per_op: PerOp | None = None


class CrossoverSeries(_Model):
    """`sweep.crossover[]`: one series of one task (analysis/crossover.py), sorted by work."""

    task: str
    task_index: int
    series: dict[str, Any]
    baseline: str
    points: list[CrossoverPoint]
    impls: dict[str, CrossoverImpl]
    summary: list[str]


class QualityEvaluation(_Model):
    """A later `evaluate` task (`weights: trained`) that scored a training's weights."""

    task_index: int
    protocol: str


class QualityRun(_Model):
    """One measured training: its validation curve, time to target and later evaluations."""

    repeat: int
    seed: int | None
    curve: list[list[Num]]  # [seconds since the first data touched, validation accuracy]
    time_to_target_s: Num | None
    best_val_accuracy: Num | None
    train_pairs: Num | None
    wall_s: Num | None
    evaluations: dict[str, Num | None]  # by the evaluate task's index (a string in JSON)


class QualitySummary(_Model):
    """An implementation's trainings of one train task, summarised."""

    runs: int
    reached_target: int | None
    time_to_target_s: Stat | None
    time_to_target_olympic_s: Num | None
    best_val_accuracy: Stat | None
    evaluations: dict[str, Stat | None]


class QualityImpl(_Model):
    runs: list[QualityRun]
    summary: QualitySummary


class Quality(_Model):
    """`quality[]`: one record per train task (analysis/quality.py)."""

    task_index: int
    target: Num | None
    evaluations: list[QualityEvaluation]
    impls: dict[str, QualityImpl]


class LatencyQuantile(_Model):
    """One latency percentile of a `serve` measurement (analysis/serving.py): the nearest-rank
    value over the pooled measured queries and its one-sided upper confidence bound, the order
    statistic that bounds the true percentile with `serving.CONFIDENCE`; `upper_s` is None when
    there are too few queries for the bound, and `queries_needed` says how many it takes."""

    q: Num
    value_s: Num
    upper_s: Num | None
    queries_needed: int | None = None


class Serving(_Model):
    """One implementation on one `serve` task (analysis/serving.py): `serving[]`. Latencies
    pool every measured run's measured queries; the per-run figures are medians over runs."""

    task_index: int
    impl: str
    point: int | None = None
    arrival: str
    threads: int
    page_cache: str = "warm"  # the task's `page_cache`: "evict" for a cold start from disk
    resident_share: Num | None = None  # evict: the share of the files that stayed cached
    runs: int
    queries: int
    latency: list[LatencyQuantile]
    latency_max_s: Num
    p99_over_p50: Num | None
    cold_start_s: Num | None  # exec to the first answer, the harness's clock (median over runs)
    cold_query_s: Num | None
    enrol_s: Num | None  # a warm enrolment (median of the later ones)
    setup_s: Num | None
    steady_rss_bytes: Num | None
    peak_rss_bytes: Num
    idle_cpu_fraction: Num | None  # CPU seconds per idle second, summed over runs (poisson)
    ship_bytes: int | None  # the files the job mapped at its first answer (first measured run)
    ship_files: int | None
    executable_bytes: int | None = None  # the job's executable, stripped (a copy)
    accuracy: Num | None
    # The answers against float64 (None when the referee could not run): disagreements beyond
    # a tie, near-ties excused.
    agrees: bool | None = None
    disagreements: int | None = None
    ties_excused: int | None = None
