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
`write_outputs` then writes report.md and report.html into the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.analysis import fmapeak, phases, quality, ratios, roofline
from harness.errors import HarnessError
from harness.run.config import Config
from harness.run.display import Display


def analyse(results: dict[str, Any], config: Config, run_dir: Path, display: Display) -> None:
    phases.attribute_all(results, run_dir)
    results["comparisons"] = ratios.run_comparisons(
        results, config.comparisons.baseline, config.comparisons.max_rel_iqr
    )
    results["roofline"] = measure_roofline(results, config, display)
    if any(t.name == "train" for t in config.tasks):
        results["quality"] = quality.analyse(results, config.tasks, run_dir)


def measure_roofline(results: dict[str, Any], config: Config, display: Display) -> dict[str, Any]:
    rc = config.roofline
    if not roofline.wanted(rc.measure, [t.name for t in config.tasks]):
        results["machine"]["sgemm_gflops"] = None
        results["machine"]["fma_peak_gflops"] = None
        why = "no compute task in this run" if rc.measure == "auto" else "roofline.measure: never"
        return {"measured": False, "reason": why, "tasks": []}
    note = " with OPENBLAS_CORETYPE/L2_SIZE unset" if rc.unset_openblas_coretype else ""
    display.line(f"measuring the SGEMM peak ({rc.size}x{rc.size}, {config.threads} threads{note})")
    sgemm: dict[str, Any] | None = None
    try:
        sgemm = roofline.measure_peak(
            config.threads, size=rc.size, unset_openblas_coretype=rc.unset_openblas_coretype
        )
    except HarnessError as e:
        failed = str(e)
    fma = measure_fma_peak(results, config.threads, display)
    if sgemm is None:
        results["machine"]["sgemm_gflops"] = None
        return {"measured": False, "reason": failed, "tasks": []}
    peak = float(sgemm["sgemm_gflops"])
    results["machine"]["sgemm_gflops"] = peak
    results["machine"]["sgemm"] = sgemm
    tasks = with_fma_share(roofline.achieved(results, peak), fma)
    return {"measured": True, "reason": None, "tasks": tasks}


def measure_fma_peak(results: dict[str, Any], threads: int, display: Display) -> float | None:
    """Record `machine.fma_peak*`; the peak in GFLOP/s, None when the probe failed."""
    display.line(f"measuring the fp32 FMA peak (AVX-512/AVX2 FMA chains, {threads} threads)")
    try:
        record = fmapeak.measure_fma_peak(threads)
    except HarnessError as e:
        results["machine"]["fma_peak_gflops"] = None
        results["machine"]["fma_peak"] = {"fma_peak_gflops": None, "reason": str(e)}
        return None
    peak = float(record["fma_peak_gflops"])
    results["machine"]["fma_peak_gflops"] = peak
    results["machine"]["fma_peak"] = record
    return peak


def with_fma_share(rows: list[dict[str, Any]], fma_peak: float | None) -> list[dict[str, Any]]:
    """Each roofline row with `share_of_fma_peak` right after `share_of_peak`."""
    out = []
    for row in rows:
        new: dict[str, Any] = {}
        for key, value in row.items():
            new[key] = value
            if key == "share_of_peak":
                new["share_of_fma_peak"] = row["gflop_per_s"] / fma_peak if fma_peak else None
        out.append(new)
    return out


def write_outputs(results: dict[str, Any], run_dir: Path, display: Display) -> None:
    from harness.report import write_report

    for path in write_report(run_dir, results):
        display.line(f"report: {path}")
