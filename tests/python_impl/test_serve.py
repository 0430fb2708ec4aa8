"""The `serve` task (docs/protocol.md, "`serve`"): the episodes' draw, the query loop around
python-torch's real network, arrivals, files, metrics and refusals, through the CLI."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from oneshot_common.episodes import (
    EPISODES_HEADER,
    draw_koch_episodes,
    format_episodes,
    lake_episodes,
    load_episodes,
)
from oneshot_common.errors import InputError
from oneshot_common.events import Events
from oneshot_common.params import ServeParams
from oneshot_common.rng import Rng
from oneshot_common.sampling import scan_dataset
from oneshot_common.serving import (
    SERVE_HEADER,
    arrival_offsets,
    format_serve,
    nearest_rank,
    serve_queries,
    strict_argmax,
)
from oneshot_torch.model import PRESETS, SiameseNet, init_he
from oneshot_torch.nettasks import to_input
from oneshot_torch.serve import TorchServing
from oneshot_torch.weights import save_weights

from .conftest import make_dataset, run_cli
from .test_evaluate import EVAL_LAYOUT, fake_runs

JobWriter = Callable[..., Path]
TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}
METRICS = (
    "queries", "episodes", "accuracy", "latency_p50_s", "latency_p90_s", "latency_p99_s",
    "latency_max_s", "queries_per_s", "cold_query_s", "first_answer_s", "enrol_s", "setup_s",
    "load_s", "steady_rss_bytes", "task_s", "torch_threads",
)  # fmt: skip


@pytest.fixture
def eval_root(tmp_path: Path) -> Path:
    root = tmp_path / "eval"
    make_dataset(root, EVAL_LAYOUT)
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """he-initialised tiny weights, written as python-torch's `init` writes them."""
    path = tmp_path_factory.mktemp("weights") / "weights.safetensors"
    save_weights(tiny_net(), str(path))
    return str(path)


def tiny_net() -> SiameseNet:
    net = SiameseNet(PRESETS["tiny"])
    init_he(net, 5)
    return net


def drawer(path: str) -> str:
    return path.rsplit("/", 1)[1]


def test_koch_episodes_follow_the_documented_draw_order(eval_root: Path) -> None:
    dataset = scan_dataset(eval_root)
    episodes = draw_koch_episodes(dataset, 3, 2, Rng(42, "episodes"))
    rng = Rng(42, "episodes")
    for episode in episodes:
        alphabet = [0, 1][rng.below(2)]  # "Small" has 2 characters: never eligible at 3-way
        order = list(range(5))
        for i in range(3):
            j = i + rng.below(5 - i)
            order[i], order[j] = order[j], order[i]
        chars = [dataset.alphabet_start[alphabet] + k for k in order[:3]]
        d1 = rng.below(4)
        d2 = rng.below(3)
        d2 += d2 >= d1  # no answer draw: the next episode starts here
        assert episode.support == tuple(dataset.images[c][d2] for c in chars)
        assert episode.queries == tuple(dataset.images[c][d1] for c in chars)
        assert episode.answers == (0, 1, 2)


def test_koch_episodes_are_deterministic_with_two_drawers(eval_root: Path) -> None:
    dataset = scan_dataset(eval_root)
    first = draw_koch_episodes(dataset, 4, 30, Rng(3, "episodes"))
    assert first == draw_koch_episodes(dataset, 4, 30, Rng(3, "episodes"))
    assert first != draw_koch_episodes(dataset, 4, 30, Rng(4, "episodes"))
    for episode in first:
        assert len({drawer(p) for p in episode.support}) == 1
        assert len({drawer(p) for p in episode.queries}) == 1
        assert drawer(episode.support[0]) != drawer(episode.queries[0])
        chars = [p.rsplit("/", 1)[0] for p in episode.support]
        assert len(set(chars)) == 4 and len({c.split("/")[0] for c in chars}) == 1
        assert [p.rsplit("/", 1)[0] for p in episode.queries] == chars
    with pytest.raises(InputError, match="no alphabet has 6 characters"):
        draw_koch_episodes(dataset, 6, 1, Rng(3, "episodes"))


def test_lake_episodes_are_the_runs_and_episodes_tsv_is_exact(tmp_path: Path) -> None:
    fake_runs(tmp_path, 2, 3)
    episodes = lake_episodes(str(tmp_path), 3)
    assert len(episodes) == 2
    assert episodes[1].support == tuple(f"run02/training/class{k:02d}.png" for k in (1, 2, 3))
    assert episodes[1].queries == tuple(f"run02/test/item{k:02d}.png" for k in (1, 2, 3))
    assert episodes[1].answers == (2, 1, 0)  # item k is answered by class (4 - k)
    with pytest.raises(InputError, match=r"3-way, expected params\.ways = 4"):
        lake_episodes(str(tmp_path), 4)
    text = format_episodes(episodes)
    lines = text.split("\n")
    assert text.endswith("\n") and lines[0] == EPISODES_HEADER and len(lines) == 1 + 12 + 1
    assert lines[1:7] == [
        "0\tsupport\t0\trun01/training/class01.png\t0",
        "0\tsupport\t1\trun01/training/class02.png\t1",
        "0\tsupport\t2\trun01/training/class03.png\t2",
        "0\tquery\t0\trun01/test/item01.png\t2",
        "0\tquery\t1\trun01/test/item02.png\t1",
        "0\tquery\t2\trun01/test/item03.png\t0",
    ]
    decoded = load_episodes(str(tmp_path), episodes)
    assert decoded.images.shape == (12, 1379) and decoded.ways == 3
    assert list(decoded.query_rows[1]) == [9, 10, 11]


def test_strict_argmax_gives_no_answer_on_a_tie_or_a_nan() -> None:
    assert strict_argmax(np.array([0.1, 0.7, 0.2], np.float32)) == 1
    assert strict_argmax(np.array([0.7, 0.1, 0.7], np.float32)) == -1
    assert strict_argmax(np.array([0.1, np.nan, 0.2], np.float32)) == -1
    assert strict_argmax(np.zeros(20, np.float32)) == -1  # a collapsed network answers nothing


def test_poisson_offsets_and_nearest_rank() -> None:
    offsets = arrival_offsets(11, 50.0, 401)
    assert offsets == arrival_offsets(11, 50.0, 401) and offsets[0] == 0.0
    rng = Rng(11, "arrivals")
    assert offsets[1] == -math.log(1.0 - rng.uniform()) / 50.0
    gaps = np.diff(offsets)
    assert (gaps > 0).all() and abs(gaps.mean() - 1 / 50.0) < 0.15 / 50.0  # 400 gaps: 5% sd
    values = [float(v) for v in range(1, 11)]
    assert [nearest_rank(values, p) for p in (50, 90, 99)] == [5.0, 9.0, 10.0]
    assert nearest_rank([3.0], 99) == 3.0


def test_the_loop_enrols_per_episode_and_answers_with_the_head(eval_root: Path) -> None:
    episodes = load_episodes(
        str(eval_root), draw_koch_episodes(scan_dataset(eval_root), 3, 2, Rng(1, "episodes"))
    )
    net = tiny_net()
    params = ServeParams(ways=3, episodes=2, queries=7, warmup_queries=2)
    stream = io.StringIO()
    log = serve_queries(TorchServing(net), episodes, params, 1, Events(time.perf_counter(), stream))
    # 10 queries: episode 0's three, episode 1's, then episode 0's and one of episode 1.
    assert log.episode == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1] and log.index == [0, 1, 2] * 3 + [0]
    assert len(log.enrol_s) == 4 and all(s > 0 for s in log.enrol_s)
    assert all(
        later >= earlier for earlier, later in zip(log.arrival, log.arrival[1:], strict=False)
    )
    assert log.arrival[0] == 0.0 and all(s > 0 for s in log.latency)
    assert log.steady_rss_bytes is not None and log.steady_rss_bytes > 10_000_000
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["name"] for e in events if e["event"] == "metric"] == ["first_answer"]
    with torch.inference_mode():  # the answers: strict argmax of out(|e_q - e_k|)
        for q, (e, k) in enumerate(zip(log.episode, log.index, strict=True)):
            support = net.embed(to_input(episodes.images[episodes.support_rows[e]], 32))
            image = episodes.images[episodes.query_rows[e][k]][None]
            logits = net.head(net.embed(to_input(image, 32)), support).numpy()
            assert log.predicted[q] == strict_argmax(logits)
    assert net.training  # the network's mode restored after serving


def test_a_collapsed_network_ties_every_query_and_answers_none(eval_root: Path) -> None:
    episodes = load_episodes(
        str(eval_root), draw_koch_episodes(scan_dataset(eval_root), 3, 1, Rng(2, "episodes"))
    )
    net = tiny_net()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()  # every embedding sigmoid(0): every logit the same, a 3-way tie
    params = ServeParams(ways=3, episodes=1, queries=6, warmup_queries=0)
    events = Events(time.perf_counter(), io.StringIO())
    log = serve_queries(TorchServing(net), episodes, params, 2, events)
    assert log.predicted == [-1] * 7
    rows = [line.split("\t") for line in format_serve(log, 0).splitlines()[1:]]
    assert [(r[3], r[6], r[8]) for r in rows] == [("cold", "-", "0")] + [("measured", "-", "0")] * 6


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def serve_job(job_writer: JobWriter, root: Path, weights: str, params: dict[str, Any]) -> Path:
    dataset = {"root": str(root), "eval_root": str(root)}
    inputs = {"pairs": None, "weights": weights}
    return job_writer(root, "serve", params, model=TINY, dataset=dataset, inputs=inputs)


def test_serve_back_to_back_writes_its_files_and_metrics(
    eval_root: Path, weights: str, job_writer: JobWriter
) -> None:
    params = {"ways": 3, "episodes": 3, "queries": 40, "warmup_queries": 4}
    job = serve_job(job_writer, eval_root, weights, params)
    done = run_cli(job)
    assert done.returncode == 0, done.stderr
    result = json.loads((job.parent / "result.json").read_text())
    metrics = result["metrics"]
    assert result["outputs"] == {"serve": "serve.tsv", "episodes": "episodes.tsv"}
    assert set(METRICS) <= set(metrics) and "idle_cpu_s" not in metrics
    assert metrics["queries"] == 40 and metrics["episodes"] == 3 and metrics["torch_threads"] == 1
    p50, p90, p99 = (metrics[f"latency_p{p}_s"] for p in (50, 90, 99))
    assert 0 < p50 <= p90 <= p99 <= metrics["latency_max_s"] < 1.0
    assert metrics["setup_s"] + metrics["load_s"] <= metrics["first_answer_s"]
    assert len(metrics["enrol_s"]) == 1 + (45 - 1) // 3  # a new episode every 3 queries
    rows = read_tsv(job.parent / "serve.tsv")
    assert "\t".join(rows[0]) == SERVE_HEADER and len(rows) == 1 + 45
    assert [r[3] for r in rows[1:]] == ["cold"] + ["warmup"] * 4 + ["measured"] * 40
    measured = rows[6:]
    assert sum(int(r[8]) for r in measured) / 40 == metrics["accuracy"]
    assert all(r[8] == str(int(r[6] == r[7])) for r in rows[1:])
    latencies = sorted(float(r[5]) for r in measured)
    assert latencies[19] == p50 and latencies[-1] == metrics["latency_max_s"]
    assert float(rows[1][5]) == metrics["cold_query_s"]
    episodes = read_tsv(job.parent / "episodes.tsv")
    assert (
        len(episodes) == 1 + 3 * 6
        and [r[1] for r in episodes[1:7]] == ["support"] * 3 + ["query"] * 3
    )
    assert all((eval_root / r[3]).is_file() for r in episodes[1:])
    events = [json.loads(line) for line in done.stdout.splitlines()]
    phases = [(e["name"], e["state"]) for e in events if e["event"] == "phase"]
    assert phases == [(n, s) for n in ("load", "serve", "write") for s in ("begin", "end")]
    first = next(e for e in events if e.get("name") == "first_answer")
    assert first["value"] == metrics["first_answer_s"]


def test_serve_poisson_sleeps_between_arrivals(
    eval_root: Path, weights: str, job_writer: JobWriter
) -> None:
    rate = 400.0
    params = {"ways": 3, "episodes": 2, "queries": 300, "warmup_queries": 2}
    job = serve_job(
        job_writer, eval_root, weights, {**params, "arrival": "poisson", "rate_per_s": rate}
    )
    done = run_cli(job)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((job.parent / "result.json").read_text())["metrics"]
    arrivals = [float(r[4]) for r in read_tsv(job.parent / "serve.tsv")[1:]]
    gaps = np.diff(arrivals[1:])  # the schedule starts at the cold answer
    assert (gaps > 0).all() and abs(gaps.mean() - 1 / rate) < 0.2 / rate
    expected = arrival_offsets(7, rate, len(arrivals))
    np.testing.assert_allclose(gaps, np.diff(expected[1:]), rtol=0, atol=1e-9)  # clock rounding
    assert 0.2 < metrics["idle_wall_s"] < 300 / rate
    assert 0.0 <= metrics["idle_cpu_s"] < 0.5 * metrics["idle_wall_s"]  # asleep, not spinning


def test_serve_lake_episodes_through_the_cli(
    tmp_path: Path, weights: str, job_writer: JobWriter
) -> None:
    fake_runs(tmp_path / "runs", 2, 4)
    params = {"protocol": "lake", "runs": str(tmp_path / "runs"), "ways": 4, "queries": 8}
    job = serve_job(job_writer, tmp_path / "runs", weights, params)
    done = run_cli(job)
    assert done.returncode == 0, done.stderr
    assert (job.parent / "episodes.tsv").read_text() == format_episodes(
        lake_episodes(str(tmp_path / "runs"), 4)
    )
    metrics = json.loads((job.parent / "result.json").read_text())["metrics"]
    assert metrics["episodes"] == 2 and metrics["queries"] == 8


@pytest.mark.parametrize(
    ("params", "extra", "message"),
    [
        ({"queries": 0}, {}, "params.queries: 0 is out of range, expected a value in [1, "),
        ({"rate_per_s": 0}, {}, "params.rate_per_s: 0.0 is out of range, expected a value > 0"),
        ({"arrival": "burst"}, {}, "params.arrival: got string 'burst', expected one of "),
        ({"ways": 3}, {"inputs": {"weights": None}}, "inputs.weights: null, expected a weights "),
        ({"protocol": "lake"}, {}, "params.runs: missing, expected the all_runs folder"),
    ],
)
def test_bad_serve_jobs_exit_2_with_one_line(
    eval_root: Path,
    job_writer: JobWriter,
    params: dict[str, Any],
    extra: dict[str, Any],
    message: str,
) -> None:
    dataset = {"root": str(eval_root), "eval_root": str(eval_root)}
    job = job_writer(eval_root, "serve", params, **{"model": TINY, "dataset": dataset, **extra})
    done = subprocess.run(
        [sys.executable, "-m", "oneshot_torch", "run", str(job)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: " + message), line


@pytest.mark.slow
def test_python_torch_compile_serves_without_compiling_a_query(
    eval_root: Path, weights: str, job_writer: JobWriter
) -> None:
    params = {"ways": 3, "episodes": 2, "queries": 10, "warmup_queries": 2}
    torch_job = serve_job(job_writer, eval_root, weights, params)
    compiled_job = serve_job(job_writer, eval_root, weights, params)
    assert run_cli(torch_job).returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "oneshot_torch.compiled", "run", str(compiled_job)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((compiled_job.parent / "result.json").read_text())["metrics"]
    # Batch `ways` and batch 1 compiled before the cold query, inside setup_s; no query recompiles.
    assert metrics["compiled_graphs"] == 2 and 0 < metrics["compile_s"] < metrics["setup_s"]
    assert metrics["cold_query_s"] < metrics["compile_s"]
    columns = [[r[6] for r in read_tsv(j.parent / "serve.tsv")] for j in (torch_job, compiled_job)]
    assert columns[0] == columns[1]
