"""Sweeps: the grid in the config, every point its own run, the crossover, resume, the report."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.crossover import Peaks, best_peaks, crossings, sentence
from harness.errors import HarnessError
from harness.report import write_report
from harness.results import CrossoverRatio, FmaProbe, Machine, SweepPoint, parse
from harness.run.config import from_dict
from harness.run.sweep import best_probes, resume_sweep, run_sweep
from tests.harness_cli import run_harness, start_harness

from .fakerun import fake, quiet, tiny_dataset, wait_for_runs

FAKE = Path(__file__).with_name("fake_impl.py")
SCALES = [0.0625, 0.125, 0.25, 0.5, 1]
# A call costs a 0.5 s + 0.1 s/GFLOP, b 0.01 s + 2 s/GFLOP: b is faster below 0.49/1.9 GFLOP.
# The paper widths times SCALES give the fake's 0.0019 to 0.50 GFLOP per call of 2 pairs.
A = ["--overhead-s", "0.5", "--s-per-gflop", "0.1", "--jitter", "0.01"]
B = ["--overhead-s", "0.01", "--s-per-gflop", "2", "--jitter", "0.01", "--jitter-seed", "1"]
CROSSING = 0.49 / 1.9


def sweep_config(folder: Path, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "sweep",
        "threads": 1,
        "warmup": 0,
        "repeats": 3,
        "implementations": ["a", "b"],
        "dataset": {"root": str(tiny_dataset(folder))},
        "model": {"preset": "paper"},
        "roofline": {"measure": "never"},
        "tasks": [{"forward": {"batch": 2, "input_pairs": 8}}],
        "sweep": {"model.width_scale": SCALES},
    }
    raw.update(extra)
    return raw


def test_grid_points_are_the_product_in_written_order(tmp_path: Path) -> None:
    raw = sweep_config(tmp_path)
    raw["tasks"].append({"step": {"steps": 1, "batch": 4}})
    raw["sweep"] = {"model.input": [52, 105], "tasks.*.batch": [8, 32, 64]}
    config = from_dict(raw)
    values = [p.values for p, _ in config.points]
    assert values[:2] == [
        {"model.input": 52, "tasks.*.batch": 8},
        {"model.input": 52, "tasks.*.batch": 32},
    ]
    assert len(values) == 6
    _, last = config.points[-1]
    assert last.model is not None and last.model["input"] == 105
    assert [t.params["batch"] for t in last.tasks] == [64, 64]
    assert last.sweep is None


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ([1, 2], "sweep: expected a mapping of config keys to lists of values"),
        ({"model.width_scale": []}, "sweep.model.width_scale: expected a non-empty list"),
        ({"model.width_scale": 0.5}, "sweep.model.width_scale: expected a non-empty list"),
        ({"name": ["a", "b"]}, "sweep.name: cannot be swept"),
        ({"tasks.*.ways": [5, 20]}, "sweep.tasks.*.ways: no task has a parameter ways"),
        (
            {"model.width_scale": [0.5, -1]},
            "sweep point 1 (model.width_scale=-1): model.width_scale: expected a number in (0, 16]",
        ),
        ({"repeats": [2, 0]}, "sweep point 1 (repeats=0): repeats:"),
    ],
)
def test_a_bad_sweep_is_one_line_before_any_work(tmp_path: Path, sweep: Any, message: str) -> None:
    with pytest.raises(HarnessError) as e:
        from_dict(sweep_config(tmp_path, sweep=sweep))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def run(tmp_path: Path, **extra: Any) -> tuple[dict[str, Any], Path]:
    config = from_dict(sweep_config(tmp_path, **extra))
    available = {"a": fake("a", *A), "b": fake("b", *B)}
    out = tmp_path / "run"
    return run_sweep(config, out, quiet(), available), out


@pytest.mark.slow  # whole sweeps of the fake implementation: 7-15 s each
def test_sweep_finds_the_crossover_of_two_known_cost_models(tmp_path: Path) -> None:
    doc, out = run(tmp_path)
    results = parse(doc)
    assert results.status == "complete"
    assert results.sweep is not None
    assert [p.status for p in results.sweep.points] == ["complete"] * len(SCALES)
    assert {m.point for m in results.measurements} == set(range(len(SCALES)))
    for m in results.measurements:  # job folders are relative to the sweep's folder
        assert all((out / r.dir / "result.json").is_file() for r in m.runs)
    assert all(c.ok for c in results.checks) and results.checks
    for i in range(len(SCALES)):
        point = json.loads((out / f"points/{i:02d}/results.json").read_text())
        assert point["status"] == "complete" and "sweep" not in point["config"]
    [record] = results.sweep.crossover or []
    info = record.impls["b"]
    works = [p.work_gflop for p in record.points]
    assert works == sorted(works)
    assert works[-1] == pytest.approx(2 * 576 * 4096 * 105e-9)
    [cross] = info.crossings or []
    assert cross.faster == "below"
    assert cross.between[0] < CROSSING < cross.between[1]
    assert abs(math.log(cross.work_gflop / CROSSING)) < math.log(1.5)
    assert cross.clear
    assert info.summary and "b is faster below" in info.summary
    assert "within noise" not in info.summary


def test_a_sweep_over_the_algorithm_is_one_curve_per_algorithm_not_a_crossover(
    tmp_path: Path,
) -> None:
    # model.conv changes how the work is done, not how much: the same GFLOP at every point.
    doc, _ = run(tmp_path, sweep={"model.conv": ["direct", "fft"]})
    records = parse(doc).sweep.crossover or []  # type: ignore[union-attr]
    assert [r.series["model.conv"] for r in records] == ["direct", "fft"]
    for record in records:
        assert len(record.points) == 1
        summary = record.impls["b"].summary or ""
        assert record.impls["b"].crossings == []
        assert "one work size: no crossover" in summary and "faster" not in summary


@pytest.mark.slow  # whole sweeps of the fake implementation: 7-15 s each
def test_the_time_per_operator_call_is_stated_at_the_smallest_size_only(tmp_path: Path) -> None:
    config = from_dict(sweep_config(tmp_path))
    available = {"a": fake("a", *A, "--ops-per-call", "50"), "b": fake("b", *B)}
    doc = run_sweep(config, tmp_path / "run", quiet(), available)
    [record] = parse(doc).sweep.crossover or []  # type: ignore[union-attr]
    # a's smallest call: 0.5 s + 0.1 s/GFLOP * 0.0019 GFLOP, within its 1% jitter, over 50 calls
    per_op = record.impls["a"].per_op
    assert per_op is not None and per_op.ops_per_call == 50
    assert per_op.us_per_op == pytest.approx(1e6 * 0.5002 / 50, rel=0.02)
    [line] = [s for s in record.summary if "per operator call" in s]
    assert line.startswith(
        f"forward (task 0, batch 2): a takes {per_op.us_per_op:.1f} us per operator call"
    )
    # one work size (a sweep over the algorithm): no smallest size, so no such bound
    config = from_dict(sweep_config(tmp_path, sweep={"model.conv": ["direct", "fft"]}))
    doc = run_sweep(config, tmp_path / "one-size", quiet(), available)
    for record in parse(doc).sweep.crossover or []:  # type: ignore[union-attr]
        per_op = record.impls["a"].per_op
        assert per_op is not None and per_op.ops_per_call == 50
        assert not [s for s in record.summary if "per operator call" in s]


@pytest.mark.slow  # whole sweeps of the fake implementation: 7-15 s each
def test_report_of_a_sweep_has_the_verdict_plot_and_every_point(tmp_path: Path) -> None:
    doc, out = run(tmp_path)
    write_report(out, doc)
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "b is faster below" in html and "b is faster below" in md
    assert html.count('data-plot="Crossover') == 1
    assert md.count("\n| ") >= 1 + 2 * len(SCALES)  # header + a row per point and impl
    assert (out / "points/00/report.html").is_file()


def ratio(work_gflop: float, ratio: float, ci_low: float, ci_high: float) -> CrossoverRatio:
    return CrossoverRatio(point=0, work_gflop=work_gflop, ratio=ratio, ci_low=ci_low,
                          ci_high=ci_high, significant=None)  # fmt: skip


def test_crossings_interpolate_in_log_log_and_say_when_within_noise() -> None:
    pts = [ratio(1.0, 2.0, 1.8, 2.2), ratio(100.0, 0.5, 0.3, 1.1), ratio(1000.0, 0.25, 0.2, 0.3)]
    [c] = crossings(pts)
    assert c.work_gflop == pytest.approx(10.0)
    assert c.faster == "below" and not c.clear
    assert crossings([p.model_copy(update={"ratio": 1.5}) for p in pts]) == []
    same_work = [pts[0].model_copy(update={"ratio": r}) for r in (0.8, 1.6)]
    assert crossings(same_work) == []


def test_two_crossings_read_as_the_ranges_between_them() -> None:
    pts = [ratio(0.01, 0.9, 0.5, 1.1), ratio(1.0, 1.2, 1.1, 1.3), ratio(100.0, 0.8, 0.7, 0.9)]
    text = sentence("b", "a", "step b8", pts, crossings(pts))
    assert text.startswith(
        "step b8: b is slower below 0.054, faster between 0.054 and 7.93, slower "
    )
    assert (
        "above 7.93 GFLOP per call (1.0x crossed between 0.01 and 1, within noise; "
        "1.0x crossed between 1 and 100)" in text
    )
    assert text.endswith("against a (0.90x at 0.01 to 0.80x at 100 GFLOP per call)")
    flipped = [p.model_copy(update={"ratio": 1 / p.ratio}) for p in pts]
    text = sentence("b", "a", "step b8", flipped, crossings(flipped))
    assert "b is faster below 0.054, slower between 0.054 and 7.93, faster above 7.93 GFLOP" in text


def impl_folder(tmp_path: Path) -> dict[str, str]:
    impls = tmp_path / "impls"
    for name, flags in (("a", A), ("b", B)):
        folder = impls / name
        folder.mkdir(parents=True)
        cmd = ["{python}", str(FAKE), "--sleep-s", "0.3", *flags, "run", "{job}"]
        (folder / "impl.yaml").write_text(
            json.dumps({"id": name, "language": "python", "run": cmd})
        )
    return {**os.environ, "ONESHOT_BENCH_IMPLS": str(impls)}


@pytest.mark.slow  # whole sweeps of the fake implementation: 7-15 s each
def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path) -> None:
    env = impl_folder(tmp_path)
    config = tmp_path / "sweep.yaml"
    config.write_text(
        json.dumps(sweep_config(tmp_path, sweep={"model.width_scale": [0.25, 0.5, 1]}))
    )
    out = tmp_path / "run"
    proc = start_harness("run", str(config), "--out", str(out), env=env)
    wait_for_runs(out / "points/01/results.json", 1, 120)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "interrupted"
    assert [p["status"] for p in doc["sweep"]["points"]] == ["complete", "interrupted", "pending"]
    first = (out / "points/00/results.json").read_bytes()

    resumed = run_harness("run", "--resume", str(out), env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "complete"
    assert [p["status"] for p in doc["sweep"]["points"]] == ["complete"] * 3
    assert (out / "points/00/results.json").read_bytes() == first  # not run again
    runs = [r for m in doc["measurements"] if m["point"] == 1 for r in m["runs"]]
    assert sorted(r["repeat"] for r in runs) == [0, 0, 1, 1, 2, 2]
    assert doc["sweep"]["crossover"]


@pytest.mark.slow  # whole sweeps of the fake implementation: 7-15 s each
def test_resume_of_a_finished_point_keeps_it(tmp_path: Path) -> None:
    doc, out = run(tmp_path)
    before = (out / "points/02/results.json").read_bytes()
    available = {"a": fake("a", *A), "b": fake("b", *B)}
    again = resume_sweep(out, quiet(), available)
    assert (out / "points/02/results.json").read_bytes() == before
    assert again["sweep"]["crossover"] == doc["sweep"]["crossover"]


def test_a_half_read_probe_does_not_halve_a_points_peak() -> None:
    # One machine: each point's share is judged against the best probe of the sweep; two nodes
    # of a cluster keep their own best; a point without a probe gets the machine's.
    def point(index: int, **fields: Any) -> SweepPoint:
        return SweepPoint(index=index, values={}, dir=f"points/{index:02d}", status="complete",
                          **fields)  # fmt: skip

    local = [
        point(0, fma_peak_gflops=450.0, sgemm_gflops=300.0),
        point(1, fma_peak_gflops=234.0, sgemm_gflops=310.0),
        point(2, fma_peak_gflops=None, sgemm_gflops=None),
    ]
    assert best_peaks(local) == {i: Peaks(450.0, 310.0) for i in range(3)}
    nodes = [
        point(i, fma_peak_gflops=g, node={"node_id": n, "ip": None, "hostname": None})
        for i, (g, n) in enumerate([(100.0, "a"), (400.0, "b"), (90.0, "a")])
    ]
    assert [best_peaks(nodes)[i].fma_peak_gflops for i in range(3)] == [100.0, 400.0, 100.0]
    machines = {
        i: Machine(fma_peak_gflops=g, fma_peak=FmaProbe(best=f"p{i}"))
        for i, g in enumerate([234.0, 463.0, None])
    }
    assert best_probes(machines) == {"fma_peak_gflops": 463.0, "fma_peak": FmaProbe(best="p1")}
