"""configs/serve.yaml end to end with the real programs on the embedded synthetic data set and
the `tiny` network: every implementation that declares `serve`, the ONNX engines on the export
of the shared trained weights, both arrival patterns and a cold start from an evicted page
cache; every answer judged against float64, the report's serving tables and CDF plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness_cli import run_harness

pytestmark = pytest.mark.slow

SETS = (
    "sweep=null",
    "repeats=1",
    "model={preset: tiny}",
    "dataset={synthetic: {alphabets: 3, characters: 20, drawers: 4, seed: 0}}",
    "tasks.0.serve.queries=40",
    "tasks.0.serve.warmup_queries=3",
    "tasks.0.serve.episodes=2",
    "tasks.0.serve.weights.train.pairs=64",
    "tasks.0.serve.weights.train.max_seconds=30",
    "tasks.0.serve.weights.train.validation.trials=5",
    "tasks.1.serve.queries=20",
    "tasks.1.serve.warmup_queries=3",
    "tasks.1.serve.episodes=2",
    "tasks.1.serve.rate_per_s=200.0",
    "tasks.2.serve.queries=3",
)


def test_serve_config_runs_every_serving_implementation_and_every_answer_agrees(
    tmp_path: Path,
) -> None:
    from harness.process.impls import discover

    found = discover()
    ids = sorted(i for i in found if found[i].implements("serve"))
    ids.remove("python-torch")
    ids.insert(0, "python-torch")  # the baseline: it trains the shared weights and exports them
    out = tmp_path / "run"
    sets = (*SETS, f"implementations=[{','.join(ids)}]")
    args = [a for value in sets for a in ("--set", value)]
    proc = run_harness("run", "configs/serve.yaml", "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert all(r["ok"] for m in results["measurements"] for r in m["runs"]), proc.stdout[-3000:]
    serving = results["serving"]
    assert {(s["impl"], s["task_index"]) for s in serving} == {
        (i, t) for i in ids for t in (0, 1, 2)
    }
    for s in serving:
        assert s["agrees"] is True, s
        assert s["cold_start_s"] > 0 and s["steady_rss_bytes"] > 0, s
        assert s["ship_bytes"] is None or s["ship_bytes"] > 0, s  # None: it ended first
        assert s["latency"][0]["value_s"] <= s["latency"][2]["value_s"] <= s["latency_max_s"]
    # a job that ends within milliseconds of its first answer can be gone before the runner
    # lists its maps; the Python programs never are
    assert all(s["ship_bytes"] for s in serving if s["impl"].startswith("python-")), serving
    poisson = [s for s in serving if s["task_index"] == 1]
    assert all(s["idle_cpu_fraction"] is not None for s in poisson)
    evicted = [s for s in serving if s["task_index"] == 2]
    assert all(s["page_cache"] == "evict" and s["resident_share"] is not None for s in evicted)
    answers = [c for c in results["checks"] if c["name"] == "answers"]
    assert len(answers) == 3 * len(ids) and all(c["ok"] for c in answers), answers
    onnx = [i for i in ids if found[i].model_file == "onnx"]
    for impl in onnx:  # the ONNX engines ran on the harness's export of the trained weights
        job = json.loads(next((out / "jobs").glob(f"t00-serve-{impl}-r00/job.json")).read_text())
        assert job["inputs"]["onnx"].endswith("model.onnx")
    report = (out / "report.md").read_text()
    assert "## Serving: latency of one query at a time" in report
    assert "## Serving: cold start and footprint" in report
    assert "Serving: latency CDFs" in (out / "report.html").read_text()
