"""After the last job of `harness run`: phases, comparisons, roofline, then the report.

`analyse` adds to the results document (before its final save):
- `runs[].phase_resources` and `measurements[].phase_summary` (phases.py);
- `comparisons[]`: every implementation against the baseline (analysis/ratios.py);
- `machine.sgemm_gflops`, `machine.sgemm` and `roofline` (roofline.py): the SGEMM peak is
  measured once per run, in a subprocess, when a compute task ran (`roofline.measure: auto`)
  or when the config asks for it (`always`); a failed probe is recorded, never fatal.
- `machine.fma_peak_gflops` and `machine.fma_peak` (fmapeak.py): the physical fp32 FMA peak,
  measured whenever the SGEMM peak is, with the same thread count; every `roofline.tasks[]` row
  gets its `share_of_fma_peak` beside `share_of_peak`. A failed probe is recorded
  (`fma_peak_gflops: null`, `fma_peak.reason`), never fatal.
- `quality[]` (quality.py), with a train task: every training's validation curve and time to
  `quality_target`, and what its weights scored in the later `evaluate` tasks.
- `serving[]` (serving.py), with a serve task: latency percentiles with their confidence
  bounds, cold start, footprint, and one `answers` check per implementation against float64.
`write_outputs` then writes report.md and report.html into the run folder.
"""

from __future__ import annotations

from pathlib import Path

from harness.analysis import fmapeak, phases, quality, ratios, roofline, serving
from harness.errors import HarnessError
from harness.results import FmaProbe, Machine, Results, Roofline, RooflineTask, SgemmProbe
from harness.run.config import Config
from harness.run.display import Display


def analyse(results: Results, config: Config, run_dir: Path, display: Display) -> Results:
    """The document with its phases, comparisons, roofline and quality records."""
    results = phases.attribute_all(results, run_dir)
    comparisons = ratios.run_comparisons(
        results, config.comparisons.baseline, config.comparisons.max_rel_iqr
    )
    machine, roof = measure_roofline(results, config, display)
    results = results.model_copy(
        update={"comparisons": comparisons, "machine": machine, "roofline": roof}
    )
    if any(t.name == "train" for t in config.tasks):
        results = results.model_copy(
            update={"quality": quality.analyse(results, config.tasks, run_dir)}
        )
    if serving.serve_measurements(results):
        found, verdicts = serving.answers_checks(results, run_dir)
        results = results.model_copy(
            update={
                "checks": [*results.checks, *found],
                "serving": serving.summarize(results, run_dir, verdicts),
            }
        )
    return results


def measure_roofline(
    results: Results, config: Config, display: Display
) -> tuple[Machine, Roofline]:
    """The machine with its probes' figures and records, and the roofline."""
    rc = config.roofline
    machine = results.machine
    if not roofline.wanted(rc.measure, [t.name for t in config.tasks]):
        why = "no compute task in this run" if rc.measure == "auto" else "roofline.measure: never"
        machine = machine.model_copy(update={"sgemm_gflops": None, "fma_peak_gflops": None})
        return machine, Roofline(measured=False, reason=why, tasks=[])
    note = " with OPENBLAS_CORETYPE/L2_SIZE unset" if rc.unset_openblas_coretype else ""
    display.line(f"measuring the SGEMM peak ({rc.size}x{rc.size}, {config.threads} threads{note})")
    sgemm: SgemmProbe | None = None
    failed = "roofline: the SGEMM probe reported no sgemm_gflops"
    try:
        record = roofline.measure_peak(
            config.threads, size=rc.size, unset_openblas_coretype=rc.unset_openblas_coretype
        )
        sgemm = SgemmProbe.model_validate(record)  # the probe subprocess's record
    except HarnessError as e:
        failed = str(e)
    machine, fma = measure_fma_peak(machine, config.threads, display)
    if sgemm is None or sgemm.sgemm_gflops is None:
        machine = machine.model_copy(update={"sgemm_gflops": None})
        return machine, Roofline(measured=False, reason=failed, tasks=[])
    peak = float(sgemm.sgemm_gflops)
    machine = machine.model_copy(update={"sgemm_gflops": peak, "sgemm": sgemm})
    tasks = with_fma_share(roofline.achieved(results, peak), fma)
    return machine, Roofline(measured=True, reason=None, tasks=tasks)


def measure_fma_peak(
    machine: Machine, threads: int, display: Display
) -> tuple[Machine, float | None]:
    """The machine with `fma_peak*` recorded; the peak in GFLOP/s, None when the probe failed."""
    display.line(f"measuring the fp32 FMA peak (AVX-512/AVX2 FMA chains, {threads} threads)")
    try:
        record = FmaProbe.model_validate(fmapeak.measure_fma_peak(threads))
    except HarnessError as e:
        failed = FmaProbe(fma_peak_gflops=None, reason=str(e))
        return machine.model_copy(update={"fma_peak_gflops": None, "fma_peak": failed}), None
    peak = None if record.fma_peak_gflops is None else float(record.fma_peak_gflops)
    return machine.model_copy(update={"fma_peak_gflops": peak, "fma_peak": record}), peak


def with_fma_share(rows: list[RooflineTask], fma_peak: float | None) -> list[RooflineTask]:
    """Each roofline row with its `share_of_fma_peak` (after `share_of_peak` in the file)."""
    return [
        row.model_copy(
            update={"share_of_fma_peak": row.gflop_per_s / fma_peak if fma_peak else None}
        )
        for row in rows
    ]


def write_outputs(results: Results, run_dir: Path, display: Display) -> None:
    from harness.report import write_report

    for path in write_report(run_dir, results):
        display.line(f"report: {path}")
