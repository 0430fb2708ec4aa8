"""The ONNX engines' programs end to end (`python -m oneshot_onnx --engine E run JOB`) on the
synthetic data set: `forward`, `evaluate` and `serve` give python-torch's outputs, answers and
predictions (within the float32 tolerance of test_engines.py); a program never imports torch;
a task they do not run (`train`) and a missing ONNX file are one line and exit code 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from oneshot_common.data import load_images, load_pairs
from oneshot_common.sampling import read_pairs
from oneshot_onnx.pixels import to_input
from oneshot_torch.model import SiameseNet
from oneshot_torch.weights import load_weights
from safetensors.numpy import load_file

from .conftest import ENGINES, MODEL, SHAPE, Fixture, run_onnx

JobWriter = Callable[..., Path]
RTOL, ATOL = 1e-4, 1e-6  # test_engines.py says why


def onnx_job(
    writer: JobWriter, fixture: Fixture, task: str, params: dict[str, Any], **inputs: Any
) -> Path:
    files = {
        "pairs": str(fixture.pairs),
        "weights": str(fixture.weights),
        "onnx": str(fixture.onnx),
        **inputs,
    }
    return writer(
        fixture.data,
        task,
        params,
        dataset={"root": str(fixture.data), "eval_root": str(fixture.data)},
        inputs=files,
        model=MODEL,
    )


def result_of(job: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((job.parent / "result.json").read_text())
    return loaded


def torch_embed(fixture: Fixture, packed: np.ndarray) -> np.ndarray:
    """python-torch's embeddings of packed images, its own network on the same weights."""
    net = SiameseNet(SHAPE)
    load_weights(net, fixture.weights)
    with torch.inference_mode():
        return net.eval().embed(torch.from_numpy(to_input(packed, SHAPE.input))).numpy()


def torch_logits(fixture: Fixture, emb1: np.ndarray, emb2: np.ndarray) -> np.ndarray:
    head = load_file(fixture.weights)
    return np.abs(emb1 - emb2) @ head["out.weight"].reshape(-1) + head["out.bias"][0]


def assert_torch_outputs(fixture: Fixture, job: Path, result: dict[str, Any]) -> None:
    """A forward job's embeddings and logits are python-torch's on the same weights."""
    outputs = load_file(job.parent / result["outputs"]["outputs"])
    left, right, _ = load_pairs(str(fixture.data), read_pairs(fixture.pairs, fixture.data))
    emb1, emb2 = torch_embed(fixture, left), torch_embed(fixture, right)
    np.testing.assert_allclose(outputs["emb1"], emb1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(outputs["emb2"], emb2, rtol=RTOL, atol=ATOL)
    logits = torch_logits(fixture, emb1, emb2)
    np.testing.assert_allclose(outputs["logits"], logits, rtol=RTOL, atol=ATOL)


def assert_torch_answers(
    fixture: Fixture, job: Path, result: dict[str, Any], ways: int
) -> list[dict[str, str]]:
    """Every query of a serve job answered as python-torch does (the strict argmax of its
    logits); the rows of serve.tsv."""
    episodes = [
        line.split("\t")
        for line in (job.parent / result["outputs"]["episodes"]).read_text().splitlines()[1:]
    ]
    paths = {(int(e), role, int(k)): path for e, role, k, path, _ in episodes}
    served = (job.parent / result["outputs"]["serve"]).read_text().splitlines()
    header = served[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in served[1:]]
    for row in rows:
        episode, index = int(row["episode"]), int(row["index"])
        support = [paths[(episode, "support", k)] for k in range(ways)]
        images = load_images(str(fixture.data), [paths[(episode, "query", index)], *support])
        emb = torch_embed(fixture, images)
        logits = torch_logits(fixture, emb[:1], emb[1:])
        assert int(row["predicted"]) == int(np.argmax(logits)), row
    return rows


def imported_modules(stderr: str) -> set[str]:
    """The modules `python -X importtime` reports, top-level names."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_forward_gives_python_torchs_outputs_and_never_imports_torch(
    onnx_fixture: Fixture, job_writer: JobWriter, engine: str
) -> None:
    job = onnx_job(job_writer, onnx_fixture, "forward", {"batch": 4})
    done = run_onnx(engine, job, flags=("-X", "importtime"))
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert engine in modules and "numpy" in modules
    assert "torch" not in modules and "jax" not in modules
    result = result_of(job)
    assert result["impl"] == f"python-{engine}" and result["ok"] is True
    assert result["metrics"]["pairs"] == 10 and result["metrics"]["engine_threads"] == 1
    assert result["versions"][engine].startswith({"onnxruntime": "1.31.1"}.get(engine, "2026.4"))
    assert_torch_outputs(onnx_fixture, job, result)


@pytest.mark.parametrize("engine", ENGINES)
def test_evaluate_gives_python_torchs_predictions(
    onnx_fixture: Fixture, job_writer: JobWriter, engine: str
) -> None:
    params = {"ways": 5, "trials": 12, "batch": 8}
    job = onnx_job(job_writer, onnx_fixture, "evaluate", params)
    done = run_onnx(engine, job)
    assert done.returncode == 0, done.stderr
    result = result_of(job)
    metrics = result["metrics"]
    assert metrics["trials"] == 12 and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["embed_s"] > 0 and metrics["setup_s"] > 0 and metrics["engine_threads"] == 1
    predictions = (job.parent / result["outputs"]["predictions"]).read_text()
    assert len(predictions.splitlines()) == 1 + 12
    # python-torch's evaluate on the same job, in this process (the shared trials and loop).
    from oneshot_common.events import Events
    from oneshot_common.job import parse_job
    from oneshot_torch.evaluate import run_evaluate

    raw = json.loads(job.read_text())
    out = job.parent / "torch"
    out.mkdir()
    run_evaluate(parse_job({**raw, "out_dir": str(out)}), Events(0.0))
    assert predictions == (out / "predictions.tsv").read_text()


@pytest.mark.parametrize(
    ("engine", "arrival"), [("onnxruntime", "back_to_back"), ("openvino", "poisson")]
)
def test_serve_answers_as_python_torch_does(
    onnx_fixture: Fixture, job_writer: JobWriter, engine: str, arrival: str
) -> None:
    params = {
        "ways": 5,
        "episodes": 2,
        "queries": 12,
        "warmup_queries": 2,
        "arrival": arrival,
        "rate_per_s": 500.0,
    }
    job = onnx_job(job_writer, onnx_fixture, "serve", params)
    done = run_onnx(engine, job)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(e["event"] == "metric" and e["name"] == "first_answer" for e in events)
    result = result_of(job)
    metrics = result["metrics"]
    assert metrics["queries"] == 12 and metrics["episodes"] == 2
    assert 0 < metrics["latency_p50_s"] <= metrics["latency_max_s"]
    assert metrics["engine_threads"] == 1 and len(metrics["enrol_s"]) >= 2
    assert ("idle_cpu_s" in metrics) == (arrival == "poisson")
    rows = assert_torch_answers(onnx_fixture, job, result, ways=5)
    assert [r["phase"] for r in rows] == ["cold"] + ["warmup"] * 2 + ["measured"] * 12


@pytest.mark.parametrize("engine", ENGINES)
def test_a_train_job_is_refused_in_one_line(
    onnx_fixture: Fixture, job_writer: JobWriter, engine: str
) -> None:
    job = onnx_job(job_writer, onnx_fixture, "train", {"epochs": 1})
    done = run_onnx(engine, job)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: python-{engine} does not train: task 'train', expected one of forward, "
        "evaluate, serve (an ONNX engine runs the exported tower only)"
    ]
    assert result_of(job)["ok"] is False


@pytest.mark.parametrize("engine", ENGINES)
def test_a_missing_onnx_file_is_one_line_naming_it(
    onnx_fixture: Fixture, job_writer: JobWriter, tmp_path: Path, engine: str
) -> None:
    missing = tmp_path / "gone.onnx"
    for task, params in (("forward", {}), ("serve", {"ways": 5, "episodes": 1})):
        job = onnx_job(job_writer, onnx_fixture, task, params, onnx=str(missing))
        done = run_onnx(engine, job)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"error: {missing}: no such file, expected the ONNX export of inputs.weights"
        ]
    job = onnx_job(job_writer, onnx_fixture, "forward", {}, onnx=None)
    done = run_onnx(engine, job)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: inputs.onnx: null, expected the ONNX export of inputs.weights"
    ]
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model")
    job = onnx_job(job_writer, onnx_fixture, "forward", {}, onnx=str(garbage))
    done = run_onnx(engine, job)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {garbage}: not a readable ONNX model")
