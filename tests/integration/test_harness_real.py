"""`python -m harness run` with both real implementations: checks pass, results are complete."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.harness_cli import run_harness

pytestmark = pytest.mark.slow


def quickstart(data: Path, out: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    """The quickstart config on `data`, one measured run, 2,000 pairs, plus `--set`s."""
    base = [f"dataset.root={data}", "repeats=1", "warmup=0", "tasks.0.sample.pairs=2000"]
    args = [a for value in (*base, *sets) for a in ("--set", value)]
    return run_harness("run", "configs/quickstart.yaml", "--out", str(out), *args)


def test_quickstart_shape_on_real_omniglot(omniglot_small1: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = quickstart(omniglot_small1, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert {m["impl"] for m in results["measurements"]} == {"python-torch", "rust-native"}
    assert all(m["summary"] is not None for m in results["measurements"])
    names = sorted(c["name"] for c in results["checks"])
    assert names == ["curves", "forward", "gradients", "pixels", "pixels", "sampling"]
    assert all(c["ok"] for c in results["checks"]), results["checks"]
    assert results["builds"][-1]["impl"] == "rust-native" and results["builds"][-1]["ok"]
    assert "release" in json.dumps(results["implementations"]["rust-native"]["versions"])
    assert "medians of measured runs" in proc.stdout


@pytest.mark.quick
def test_every_implementation_runs_every_quickstart_task_on_tiny_and_the_checks_pass(
    tmp_path: Path,
) -> None:
    """The quick tier's end-to-end run: every discovered implementation (its real program,
    built as the harness builds it) on the embedded synthetic data set, the `tiny` network,
    one measured run of each quickstart task; every output check across them must pass."""
    from harness.process.impls import discover

    found = discover()
    ids = sorted(found)
    out = tmp_path / "run"
    proc = run_harness(
        "run",
        "configs/quickstart.yaml",
        "--out",
        str(out),
        *("--set", f"implementations=[{','.join(ids)}]"),
        *("--set", "repeats=1", "--set", "warmup=0", "--set", "tasks.0.sample.pairs=2000"),
        *("--set", "tasks.4.step.steps=4"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    tasks = {m["task"] for m in results["measurements"]}
    assert tasks == {"sample", "load", "forward", "step"}
    for task in tasks:
        measured = {m["impl"] for m in results["measurements"] if m["task"] == task}
        assert measured == {i for i in ids if found[i].implements(task)}, task  # manifest tasks:
    assert all(r["ok"] for m in results["measurements"] for r in m["runs"])
    assert results["checks"] and all(c["ok"] for c in results["checks"]), results["checks"]


def test_rust_tch_builds_and_runs_from_a_harness_started_outside_its_venv(tmp_path: Path) -> None:
    """The README's `.venv/bin/python -m harness run ...`, venv not activated: PATH's `python3`
    lacks torch, and rust-tch (torch-sys asks `python3` for the torch wheel) still builds and
    runs, because the harness puts its own interpreter first for builds."""
    from tests.harness.test_build_path import harness_outside_venv

    out = tmp_path / "run"
    proc = harness_outside_venv(
        tmp_path,
        *("run", "configs/bench-ci.yaml", "--out", str(out)),
        *("--set", "implementations=[rust-tch]", "--set", "repeats=1", "--set", "warmup=0"),
        *("--set", "roofline.measure=never", "--set", "tasks.0.sample.pairs=1000"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert [(b["impl"], b["ok"]) for b in results["builds"]] == [("rust-tch", True)]
    assert all(r["ok"] for m in results["measurements"] for r in m["runs"])


def test_bad_dataset_root_is_one_line(tmp_path: Path) -> None:
    proc = run_harness(
        "run", "configs/quickstart.yaml", "--set", f"dataset.root={tmp_path / 'missing'}"
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: dataset.root:") and proc.stderr.count("\n") == 1


def test_fft_convolution_passes_every_check_against_direct_pytorch(
    omniglot_small1: Path, tmp_path: Path
) -> None:
    """rust-native computes every conv layer by FFT (forced: on `tiny` nothing pays), PyTorch
    directly: the forward, gradients and curves checks hold at their usual tolerances."""
    out = tmp_path / "run"
    proc = quickstart(omniglot_small1, out, "model.conv=[fft, fft, fft, fft]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    assert "model.conv: conv1, conv2, conv3, conv4 by FFT in rust-native; directly in " in said
    results = json.loads((out / "results.json").read_text())
    checks = {c["name"] for c in results["checks"]}
    assert {"forward", "gradients", "curves"} <= checks
    assert all(c["ok"] for c in results["checks"]), results["checks"]
    jobs = {p.parent.name: json.loads(p.read_text()) for p in (out / "jobs").glob("*/job.json")}
    for name, job in jobs.items():
        if job["model"] is not None:
            assert ("conv" in job["model"]) == ("rust-native" in name), name
