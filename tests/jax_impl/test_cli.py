"""`python -m oneshot_jax run JOB.json` end to end, as the harness runs it (docs/protocol.md):
exit codes and one-line errors, result.json against its schema, the steady-state metrics with
`compile_s`, and the same outputs as python-torch's on the same inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.python_impl.conftest import run_cli

from .conftest import make_dataset, run_jax

REPO = Path(__file__).resolve().parents[2]
RESULT_SCHEMA = json.loads((REPO / "docs" / "schemas" / "result.schema.json").read_text())
TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}
JobWriter = Callable[..., Path]


def result_of(job: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((job.parent / "result.json").read_text())
    jsonschema.validate(result, RESULT_SCHEMA)
    return result


def one_error_line(done: subprocess.CompletedProcess[str], code: int, names: str) -> None:
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], lines
    assert "Traceback" not in done.stderr


def test_data_tasks_are_python_torchs_and_never_import_jax(
    tiny_dataset: Any, job_writer: JobWriter
) -> None:
    root = tiny_dataset[0]
    job = job_writer(root, "sample", {"pairs": 50})
    code = (
        "import sys; from oneshot_jax.cli import main; code = main(['run', sys.argv[1]]);"
        "print('jax' in sys.modules, 'torch' in sys.modules, code, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(job)], capture_output=True, text=True)
    assert done.stderr.strip() == "False False 0"
    result = result_of(job)
    assert result["impl"] == "python-jax" and result["versions"]["oneshot_jax"] == "0.1.0"
    again = job_writer(root, "sample", {"pairs": 50})
    assert run_cli(again).returncode == 0
    pairs = (job.parent / "pairs.tsv").read_bytes()
    assert pairs == (again.parent / "pairs.tsv").read_bytes()


@pytest.mark.slow  # two programs per case, one of them importing jax
@pytest.mark.parametrize(
    ("task", "params", "extra", "code", "names"),
    [
        ("forward", {"batch": 4, "colour": 1}, {}, 2, "params.colour"),
        ("step", {"steps": 0}, {}, 2, "params.steps"),
        ("forward", {}, {"model": None}, 2, "model"),
        ("init", {}, {"model": {**TINY, "kernels": [5, 3, 2, 9]}}, 2, "conv4"),
        ("step", {}, {"optimizer": {"name": "lion"}}, 2, "optimizer.name"),
        ("evaluate", {"protocol": "lake"}, {}, 2, "params.runs"),
    ],
)
def test_bad_jobs_are_one_error_line_and_exit_2(
    tiny_dataset: Any,
    job_writer: JobWriter,
    task: str,
    params: dict[str, Any],
    extra: dict[str, Any],
    code: int,
    names: str,
) -> None:
    job = job_writer(tiny_dataset[0], task, params, **{"model": TINY, **extra})
    done = run_jax(job)
    one_error_line(done, code, names)
    result = result_of(job)
    assert result["ok"] is False and names in result["error"]
    torch_side = run_cli(job)
    assert torch_side.returncode == code
    assert torch_side.stderr.strip() == done.stderr.strip()


def test_version_prints_a_json_object() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oneshot_jax", "version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {"python", "numpy", "jax", "jaxlib", "oneshot_jax", "malloc_keep_freed"} <= set(found)


def shared_inputs(root: Path, job_writer: JobWriter, count: int) -> tuple[str, str]:
    """A pair file and he-initialised tiny weights written by python-torch."""
    sample = job_writer(root, "sample", {"pairs": count})
    init = job_writer(root, "init", {"init": "he"}, model=TINY)
    assert run_cli(sample).returncode == 0 and run_cli(init).returncode == 0
    return str(sample.parent / "pairs.tsv"), str(init.parent / "weights.safetensors")


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b)) / max(float(np.max(np.abs(a))), 1e-30))


@pytest.mark.slow
def test_forward_and_step_agree_with_python_torch(tiny_dataset: Any, job_writer: JobWriter) -> None:
    root = tiny_dataset[0]
    pairs, weights = shared_inputs(root, job_writer, 30)
    inputs = {"pairs": pairs, "weights": weights}
    found: dict[str, dict[str, Any]] = {}
    for side, runner in (("torch", run_cli), ("jax", run_jax)):
        forward = job_writer(root, "forward", {"batch": 8}, model=TINY, inputs=inputs)
        step = job_writer(
            root, "step", {"steps": 4, "batch": 8, "save_gradients": True},
            model=TINY, inputs=inputs, optimizer={"lr": 0.001, "momentum": 0.5},
        )  # fmt: skip
        for job in (forward, step):
            done = runner(job)
            assert done.returncode == 0, done.stderr
        found[side] = {"forward": forward, "step": step}
    metrics = result_of(found["jax"]["forward"])["metrics"]
    assert metrics["pairs"] == 30 and metrics["warmup_batches"] == 1
    assert metrics["compile_s"] > 0 and metrics["first_batch_s"] > 0 and metrics["forward_s"] > 0
    assert metrics["xla_threads"] == 1
    outputs = {s: load_file(str(found[s]["forward"].parent / "outputs.safetensors")) for s in found}
    for name in ("emb1", "emb2", "logits"):
        assert outputs["jax"][name].shape == outputs["torch"][name].shape
        assert rel(outputs["torch"][name], outputs["jax"][name]) < 1e-5, name
    steps = {s: result_of(found[s]["step"])["metrics"] for s in found}
    assert steps["jax"]["timed_steps"] == 3 and steps["jax"]["compile_s"] > 0
    np.testing.assert_allclose(steps["jax"]["losses"], steps["torch"]["losses"], rtol=1e-5)
    grads = {s: load_file(str(found[s]["step"].parent / "grads.safetensors")) for s in found}
    assert sorted(grads["jax"]) == sorted(grads["torch"])
    for name, value in grads["torch"].items():  # random 20%-ink images: sums that cancel
        assert rel(value, grads["jax"][name]) < 1e-3, name


EVAL_LAYOUT = {
    "Alpha": {f"character{c:02d}": 4 for c in range(1, 6)},
    "Beta": {f"character{c:02d}": 4 for c in range(1, 6)},
}


@pytest.mark.slow
def test_train_and_evaluate_agree_with_python_torch(
    tiny_dataset: Any, job_writer: JobWriter, tmp_path: Path
) -> None:
    root = tiny_dataset[0]
    eval_root = tmp_path / "eval"
    make_dataset(eval_root, EVAL_LAYOUT)
    _, weights = shared_inputs(root, job_writer, 10)
    dataset = {"root": str(root), "eval_root": str(eval_root)}
    results: dict[str, dict[str, Any]] = {}
    for side, runner in (("torch", run_cli), ("jax", run_jax)):
        train = job_writer(
            root, "train",
            {"epochs": 2, "pairs": 40, "batch": 16, "validation": {"ways": 3, "trials": 20}},
            model=TINY, dataset=dataset, inputs={"pairs": None, "weights": weights},
            augment={"enabled": True, "copies": 1}, optimizer={"lr": 0.001, "momentum": 0.5},
        )  # fmt: skip
        evaluate = job_writer(
            root, "evaluate", {"ways": 3, "trials": 30, "batch": 16}, model=TINY,
            dataset=dataset, inputs={"pairs": None, "weights": weights},
        )  # fmt: skip
        for job in (train, evaluate):
            done = runner(job)
            assert done.returncode == 0, done.stderr
        results[side] = {"train": result_of(train), "evaluate": result_of(evaluate)}
        results[side]["predictions"] = (evaluate.parent / "predictions.tsv").read_text()
    jax_train, torch_train = (
        results["jax"]["train"]["metrics"],
        results["torch"]["train"]["metrics"],
    )
    assert jax_train["steps"] == torch_train["steps"] == 2 * 2 * 3  # 40 pairs: 16, 16, 8
    np.testing.assert_allclose(jax_train["epoch_losses"], torch_train["epoch_losses"], rtol=1e-4)
    assert jax_train["compile_s"] > 0 and jax_train["first_batch_s"] > 0
    assert results["jax"]["predictions"] == results["torch"]["predictions"]
    jax_eval = results["jax"]["evaluate"]["metrics"]
    assert jax_eval["accuracy"] == results["torch"]["evaluate"]["metrics"]["accuracy"]
    assert jax_eval["compile_s"] > 0 and jax_eval["first_batch_s"] > 0
