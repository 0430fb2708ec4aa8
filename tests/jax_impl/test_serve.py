"""python-jax's `serve` task: the same episodes and answers as python-torch from the same
weights, its programs compiled ahead (inside `setup_s`, not in the cold query), and the files
and metrics of the shared loop (oneshot_common/serving.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oneshot_common.serving import SERVE_HEADER
from oneshot_torch.model import PRESETS, SiameseNet, init_he
from oneshot_torch.weights import save_weights

from tests.python_impl.conftest import run_cli

from .conftest import make_dataset, run_jax

JobWriter = Callable[..., Path]
TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}
EVAL_LAYOUT = {
    "Alpha": {f"character{c:02d}": 4 for c in range(1, 6)},
    "Beta": {f"character{c:02d}": 4 for c in range(1, 6)},
}


def serve_job(job_writer: JobWriter, root: Path, weights: str, params: dict[str, Any]) -> Path:
    dataset = {"root": str(root), "eval_root": str(root)}
    inputs = {"pairs": None, "weights": weights}
    return job_writer(root, "serve", params, model=TINY, dataset=dataset, inputs=inputs)


def column(path: Path, index: int) -> list[str]:
    return [line.split("\t")[index] for line in path.read_text().splitlines()[1:]]


def test_jax_serves_python_torchs_episodes_and_answers(
    tmp_path: Path, job_writer: JobWriter
) -> None:
    root = tmp_path / "eval"
    make_dataset(root, EVAL_LAYOUT)
    net = SiameseNet(PRESETS["tiny"])
    init_he(net, 5)
    weights = str(tmp_path / "weights.safetensors")
    save_weights(net, weights)
    params = {"ways": 4, "episodes": 3, "queries": 60, "warmup_queries": 3}
    jobs = {side: serve_job(job_writer, root, weights, params) for side in ("torch", "jax")}
    runs: dict[str, subprocess.CompletedProcess[str]] = {
        "torch": run_cli(jobs["torch"]),
        "jax": run_jax(jobs["jax"]),
    }
    for side, done in runs.items():
        assert done.returncode == 0, f"{side}: {done.stderr}"
    folders = {side: job.parent for side, job in jobs.items()}
    episodes = {side: (f / "episodes.tsv").read_bytes() for side, f in folders.items()}
    assert episodes["jax"] == episodes["torch"]  # the harness compares them byte for byte
    assert (folders["jax"] / "serve.tsv").read_text().splitlines()[0] == SERVE_HEADER
    for index in (0, 1, 2, 3, 6, 7):  # query, episode, index, phase, predicted, answer
        assert column(folders["jax"] / "serve.tsv", index) == column(
            folders["torch"] / "serve.tsv", index
        )
    metrics = json.loads((folders["jax"] / "result.json").read_text())["metrics"]
    assert metrics["queries"] == 60 and metrics["xla_threads"] == 1
    # Compiled ahead, inside setup_s: the cold query runs an executable, it compiles nothing.
    assert 0 < metrics["compile_s"] < metrics["setup_s"] < metrics["first_answer_s"]
    assert metrics["cold_query_s"] < metrics["compile_s"]
    assert 0 < metrics["latency_p50_s"] <= metrics["latency_p99_s"] <= metrics["latency_max_s"]
    assert metrics["steady_rss_bytes"] > 0 and len(metrics["enrol_s"]) == 1 + (64 - 1) // 4
    events = [json.loads(line) for line in runs["jax"].stdout.splitlines()]
    phases = [e["name"] for e in events if e["event"] == "phase" and e["state"] == "begin"]
    assert phases == ["load", "serve", "write"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"warmup_queries": -1}, "params.warmup_queries: -1 is out of range"),
        ({"episodes": 0}, "params.episodes: 0 is out of range"),
    ],
)
def test_bad_serve_params_exit_2_with_one_line(
    tmp_path: Path, job_writer: JobWriter, params: dict[str, Any], message: str
) -> None:
    done = run_jax(serve_job(job_writer, tmp_path, str(tmp_path / "w.safetensors"), params))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: " + message), line
