"""rust-ort and rust-tract end to end (their manifests' build and run commands) on the synthetic
data set and the tiny export of conftest.py: `forward`, `evaluate` and `serve` give
python-torch's outputs, predictions and answers, within the float32 tolerance of
test_engines.py; a training task, a missing, null or unreadable ONNX file and an export of
another shape are one line each with exit code 2, in python-onnxruntime's words."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.process import impls

from .conftest import MODEL, SHAPE, Fixture, run_export
from .test_tasks import assert_torch_answers, assert_torch_outputs, onnx_job, result_of

JobWriter = Callable[..., Path]
RUST_ENGINES = ("rust-ort", "rust-tract")


@pytest.fixture(scope="module")
def built() -> dict[str, impls.Implementation]:
    """The two manifests, built as the harness builds them (a no-op where tox built them)."""
    found = impls.discover(impls.IMPLS_DIR)
    for engine in RUST_ENGINES:
        impl = found[engine]
        assert impl.build is not None
        done = subprocess.run(
            list(impl.build), cwd=impl.folder, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return {engine: found[engine] for engine in RUST_ENGINES}


def run_rust(impl: impls.Implementation, job: Path) -> subprocess.CompletedProcess[str]:
    command = [str(job) if part == "{job}" else part for part in impl.run]
    return subprocess.run(
        command, cwd=impl.folder, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("engine", RUST_ENGINES)
def test_forward_gives_python_torchs_outputs(
    onnx_fixture: Fixture,
    job_writer: JobWriter,
    built: dict[str, impls.Implementation],
    engine: str,
) -> None:
    job = onnx_job(job_writer, onnx_fixture, "forward", {"batch": 4})
    done = run_rust(built[engine], job)
    assert done.returncode == 0, done.stderr[-2000:]
    result = result_of(job)
    assert result["impl"] == engine and result["ok"] is True
    assert result["metrics"]["pairs"] == 10
    if engine == "rust-ort":
        assert result["versions"]["onnxruntime"] == "1.31.1"
    assert_torch_outputs(onnx_fixture, job, result)


@pytest.mark.parametrize("engine", RUST_ENGINES)
def test_evaluate_gives_python_torchs_predictions(
    onnx_fixture: Fixture,
    job_writer: JobWriter,
    built: dict[str, impls.Implementation],
    engine: str,
    tmp_path: Path,
) -> None:
    params = {"ways": 5, "trials": 12, "batch": 8}
    job = onnx_job(job_writer, onnx_fixture, "evaluate", params)
    done = run_rust(built[engine], job)
    assert done.returncode == 0, done.stderr[-2000:]
    result = result_of(job)
    assert result["metrics"]["trials"] == 12
    predictions = (job.parent / result["outputs"]["predictions"]).read_text()
    from oneshot_common.events import Events
    from oneshot_common.job import parse_job
    from oneshot_torch.evaluate import run_evaluate

    out = tmp_path / "torch"
    out.mkdir()
    run_evaluate(parse_job({**json.loads(job.read_text()), "out_dir": str(out)}), Events(0.0))
    assert predictions == (out / "predictions.tsv").read_text()


@pytest.mark.parametrize(
    ("engine", "arrival"), [("rust-ort", "poisson"), ("rust-tract", "back_to_back")]
)
def test_serve_answers_as_python_torch_does(
    onnx_fixture: Fixture,
    job_writer: JobWriter,
    built: dict[str, impls.Implementation],
    engine: str,
    arrival: str,
) -> None:
    params = {
        "ways": 5, "episodes": 2, "queries": 12, "warmup_queries": 2,
        "arrival": arrival, "rate_per_s": 500.0,
    }  # fmt: skip
    job = onnx_job(job_writer, onnx_fixture, "serve", params)
    done = run_rust(built[engine], job)
    assert done.returncode == 0, done.stderr[-2000:]
    result = result_of(job)
    metrics = result["metrics"]
    assert metrics["queries"] == 12 and 0 < metrics["latency_p50_s"] <= metrics["latency_max_s"]
    assert ("idle_cpu_s" in metrics) == (arrival == "poisson")
    rows = assert_torch_answers(onnx_fixture, job, result, ways=5)
    assert len(rows) == 1 + 2 + 12


@pytest.mark.parametrize("engine", RUST_ENGINES)
def test_bad_input_is_one_line_and_exit_2(
    onnx_fixture: Fixture,
    job_writer: JobWriter,
    built: dict[str, impls.Implementation],
    engine: str,
    tmp_path: Path,
) -> None:
    def error_of(
        task: str, params: dict[str, object], conv: list[str] | None = None, **inputs: object
    ) -> str:
        job = onnx_job(job_writer, onnx_fixture, task, params, **inputs)
        if conv is not None:  # a model key, as a job written by hand would give it
            written = json.loads(job.read_text())
            written["model"]["conv"] = conv
            job.write_text(json.dumps(written))
        done = run_rust(built[engine], job)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (done.returncode, lines)
        assert result_of(job)["ok"] is False
        return lines[0]

    assert error_of("step", {"batch": 4, "steps": 1}) == (
        f"error: {engine} does not train: task 'step', expected one of forward, evaluate, "
        "serve (an ONNX engine runs the exported tower only)"
    )
    missing = tmp_path / "gone.onnx"
    assert error_of("forward", {}, onnx=str(missing)) == (
        f"error: {missing}: no such file, expected the ONNX export of inputs.weights"
    )
    assert error_of("serve", {"ways": 5, "episodes": 1}, onnx=None) == (
        "error: inputs.onnx: null, expected the ONNX export of inputs.weights"
    )
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model")
    assert error_of("forward", {}, onnx=str(garbage)).startswith(
        f"error: {garbage}: not a readable ONNX model ("
    )
    assert error_of("forward", {}, conv=["direct", "fft", "direct", "direct"]) == (
        f"error: model.conv: got fft for layer 2, expected direct ({engine} computes "
        "convolutions directly only)"
    )
    other = tmp_path / "wide.onnx"  # the export of a network with another embedding
    wide = {**MODEL, "embedding": MODEL["embedding"] * 2}
    weights = tmp_path / "wide.safetensors"
    from oneshot_torch.model import SiameseNet, init_he
    from oneshot_torch.weights import save_weights

    net = SiameseNet(dataclasses.replace(SHAPE, embedding=2 * SHAPE.embedding))
    init_he(net, 1)
    save_weights(net, weights)
    done = run_export("--weights", str(weights), "--model", json.dumps(wide), "--out", str(other))
    assert done.returncode == 0, done.stderr
    e = SHAPE.embedding
    assert error_of("forward", {}, onnx=str(other)) == (
        f"error: {other}: embeddings has shape [N, {2 * e}], expected [N, {e}] (the job's model)"
    )
