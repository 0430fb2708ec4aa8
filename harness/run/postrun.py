"""After the last job of `harness run`: phases, comparisons, roofline, then the report.

`analyse` adds to the results document (before its final save):
- `runs[].phase_resources` and `measurements[].phase_summary` (phases.py);
- `comparisons[]`: every implementation against the baseline (analysis/ratios.py);
- `machine.sgemm_gflops`, `machine.sgemm` and `roofline` (roofline.py): the SGEMM peak is
  measured once per run, in a subprocess, when a compute task ran (`roofline.measure: auto`)
  or when the config asks for it (`always`); a failed probe is recorded, never fatal.
`write_outputs` then writes report.md and report.html into the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.analysis import phases, ratios, roofline
from harness.errors import HarnessError
from harness.run.config import Config
from harness.run.display import Display


def analyse(results: dict[str, Any], config: Config, run_dir: Path, display: Display) -> None:
    phases.attribute_all(results, run_dir)
    results["comparisons"] = ratios.run_comparisons(
        results, config.comparisons.baseline, config.comparisons.max_rel_iqr
    )
    results["roofline"] = measure_roofline(results, config, display)


def measure_roofline(results: dict[str, Any], config: Config, display: Display) -> dict[str, Any]:
    rc = config.roofline
    if not roofline.wanted(rc.measure, [t.name for t in config.tasks]):
        results["machine"]["sgemm_gflops"] = None
        why = "no compute task in this run" if rc.measure == "auto" else "roofline.measure: never"
        return {"measured": False, "reason": why, "tasks": []}
    note = " with OPENBLAS_CORETYPE/L2_SIZE unset" if rc.unset_openblas_coretype else ""
    display.line(f"measuring the SGEMM peak ({rc.size}x{rc.size}, {config.threads} threads{note})")
    try:
        sgemm = roofline.measure_peak(
            config.threads, size=rc.size, unset_openblas_coretype=rc.unset_openblas_coretype
        )
    except HarnessError as e:
        results["machine"]["sgemm_gflops"] = None
        return {"measured": False, "reason": str(e), "tasks": []}
    peak = float(sgemm["sgemm_gflops"])
    results["machine"]["sgemm_gflops"] = peak
    results["machine"]["sgemm"] = sgemm
    return {"measured": True, "reason": None, "tasks": roofline.achieved(results, peak)}


def write_outputs(results: dict[str, Any], run_dir: Path, display: Display) -> None:
    from harness.report import write_report

    for path in write_report(run_dir, results):
        display.line(f"report: {path}")
