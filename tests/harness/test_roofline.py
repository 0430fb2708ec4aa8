"""The SGEMM roofline: probe environment, when it runs, achieved shares, the real probe.

The FMA peak beside it: test_fmapeak.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.analysis.roofline import achieved, measure_peak, probe_env, wanted
from harness.errors import HarnessError
from harness.run.config import from_dict
from tests.harness.fakerun import complete_results, fake_run, tiny_dataset


def test_probe_env_unsets_openblas_kernel_vars_only_when_asked() -> None:
    base = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576", "PATH": "/bin"}
    env, unset = probe_env(2, True, base)
    assert unset == ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert base["OPENBLAS_CORETYPE"] == "Haswell"  # the caller's mapping is untouched
    kept, none = probe_env(1, False, base)
    assert none == [] and kept["OPENBLAS_CORETYPE"] == "Haswell"


def test_probe_env_never_changes_the_process_environment() -> None:
    before = dict(os.environ)
    probe_env(1, True)
    assert dict(os.environ) == before


def test_measured_when_a_compute_task_runs_or_when_asked() -> None:
    assert wanted("auto", ["sample", "step"])
    assert not wanted("auto", ["sample", "load"])
    assert wanted("always", ["sample"]) and not wanted("never", ["train"])


def test_achieved_share_of_peak_from_gflop_per_s_or_gflop_over_task_s() -> None:
    def run(repeat: int, metrics: dict) -> dict:
        return {"repeat": repeat, "ok": True, "warmup": False, "wall_s": 9.0, "metrics": metrics}

    doc = {
        "measurements": [
            {"task": "step", "task_index": 0, "impl": "py",
             "runs": [run(i, {"gflop_per_s": g}) for i, g in enumerate([10.0, 20.0, 30.0])]},
            {"task": "step", "task_index": 0, "impl": "rs",
             "runs": [run(0, {"gflop": 50.0, "task_s": 2.0})]},
            {"task": "sample", "task_index": 1, "impl": "py",
             "runs": [run(0, {"gflop_per_s": 1.0})]},
        ]
    }  # fmt: skip
    rows = {r.impl: r for r in achieved(complete_results(doc), 100.0)}
    assert set(rows) == {"py", "rs"}  # sample is not a compute task
    assert rows["py"].gflop_per_s == 20.0 and rows["py"].share_of_peak == pytest.approx(0.2)
    assert rows["rs"].gflop_per_s == 25.0 and rows["rs"].share_of_peak == pytest.approx(0.25)


def test_roofline_config_is_validated(tmp_path: Path) -> None:
    raw = {"name": "x", "dataset": {"root": str(tiny_dataset(tmp_path))}}
    raw["tasks"] = [{"sample": {"pairs": 10}}]
    config = from_dict(raw | {"roofline": {"unset_openblas_coretype": True}})
    assert config.roofline.measure == "auto" and config.roofline.unset_openblas_coretype
    with pytest.raises(HarnessError, match=r"roofline.measure: expected auto, always or never"):
        from_dict(raw | {"roofline": {"measure": "sometimes"}})
    with pytest.raises(HarnessError, match=r"roofline.unset_openblas_coretyp: unknown key"):
        from_dict(raw | {"roofline": {"unset_openblas_coretyp": True}})


@pytest.mark.slow
def test_real_probe_reports_the_peak_and_the_blas_kernel() -> None:
    record = measure_peak(1, size=128, repeats=2)
    assert record["sgemm_gflops"] == max(record["numpy_gflops"], record["torch_gflops"] or 0)
    assert record["sgemm_gflops"] > 0
    assert any(p["user_api"] == "blas" for p in record["numpy_blas"])
    assert record["unset_openblas_coretype"] is False and record["unset_env"] == []
    assert record["threads"] == 1 and record["env"]["OMP_NUM_THREADS"] == "1"


@pytest.mark.slow
def test_a_run_records_the_roofline_when_configured(tmp_path: Path) -> None:
    doc, _ = fake_run(
        tmp_path,
        {"a": [], "b": []},
        repeats=1,
        warmup=0,
        roofline={"measure": "always", "size": 128},
    )
    assert doc["roofline"]["measured"] is True and doc["roofline"]["tasks"] == []
    assert doc["machine"]["sgemm_gflops"] == doc["machine"]["sgemm"]["sgemm_gflops"] > 0
    assert doc["machine"]["sgemm"]["unset_openblas_coretype"] is False
    fma = doc["machine"]["fma_peak"]
    assert doc["machine"]["fma_peak_gflops"] == fma["fma_peak_gflops"] > 0
    assert fma["threads"] == 1 and fma["best"] in fma["variants"]


def test_a_run_without_compute_task_skips_the_roofline(tmp_path: Path) -> None:
    doc, _ = fake_run(tmp_path, {"a": []}, repeats=1, warmup=0)
    why = "no compute task in this run"
    assert doc["roofline"] == {"measured": False, "reason": why, "tasks": []}
    assert doc["machine"]["sgemm_gflops"] is None and doc["machine"]["fma_peak_gflops"] is None
