"""Sweeps: one config, a grid of values over its keys, every point run as its own experiment
(the grid itself: grid.py).

    sweep:
      model.width_scale: [0.0625, 0.125, 0.25, 0.5, 1]
      tasks.*.batch: [8, 32]

The points are the grid's cartesian product, in the order the keys are written (the last key
varies fastest). A key is a `--set` path (`model.input`, `tasks.0.step.steps`, `threads`);
`tasks.*.KEY` sets that parameter of every task that has it. Every point's config is validated
before any work starts (`from_dict` does it), so a bad value is one line naming the point.

The run folder:

    RUN/config.yaml     the sweep config as read
    RUN/points/NN/      one ordinary run folder per point: config.yaml (the point's own, without
                        `sweep`), results.json, jobs, report.md and report.html
    RUN/results.json    every point's measurements, checks and comparisons, each with `point`
                        (job folders relative to RUN), plus `sweep` (keys, points and their
                        status, the crossover analysis: analysis/crossover.py)
    RUN/report.md, RUN/report.html   the sweep's report (report/sweep.py)

Points run one after another, each with its own interleaved jobs, shared inputs and roofline
probes, exactly as a run of that config alone would; the sweep's document is rewritten after
every point. `resume_sweep` finishes an interrupted point and runs the ones never started.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.process import impls
from harness.results import RESULTS_FORMAT_VERSION
from harness.results import save as save_results
from harness.run.config import Config, load_config
from harness.run.context import require_new_folder
from harness.run.display import Display
from harness.run.grid import Point

# --- running ---------------------------------------------------------------------------------


def run_sweep(
    config: Config,
    run_dir: Path,
    display: Display,
    available: dict[str, impls.Implementation] | None = None,
) -> dict[str, Any]:
    """Run every point of a config with `sweep:` into `run_dir`; return the sweep's document."""
    start_sweep_dir(config, run_dir, available)
    return _execute(config, run_dir, display, available)


def start_sweep_dir(
    config: Config, run_dir: Path, available: dict[str, impls.Implementation] | None = None
) -> None:
    """Check the implementations and the folder before any work; write the sweep's config."""
    impls.select(config.implementations, available or impls.discover())  # fail before any work
    require_new_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(dict(config.raw), sort_keys=False))


def is_sweep_dir(run_dir: Path) -> bool:
    """A folder a sweep writes into: its config.yaml has `sweep:`."""
    path = run_dir / "config.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and bool(raw.get("sweep"))


def resume_sweep(
    run_dir: Path, display: Display, available: dict[str, impls.Implementation] | None = None
) -> dict[str, Any]:
    """Finish the points an interrupted sweep left: resume a started one, run the rest."""
    return _execute(load_sweep_config(run_dir), run_dir, display, available)


def load_sweep_config(run_dir: Path) -> Config:
    """The config a sweep run folder was started with (its config.yaml)."""
    config = load_config(run_dir / "config.yaml")
    if not config.sweep:
        raise HarnessError(f"{run_dir}: its config.yaml has no sweep; not a sweep run")
    return config


def started_utc(run_dir: Path) -> str:
    """When the sweep in run_dir started: its results.json's, else now."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    previous = run_dir / "results.json"
    if previous.is_file():
        started = json.loads(previous.read_text(encoding="utf-8")).get("started_utc", started)
    return str(started)


def _execute(
    config: Config,
    run_dir: Path,
    display: Display,
    available: dict[str, impls.Implementation] | None,
) -> dict[str, Any]:
    from harness.run.experiment import resume_experiment, run_experiment

    points = [p for p, _ in config.points]
    started = started_utc(run_dir)
    status: dict[int, str] = {}
    try:
        for p, point_config in config.points:
            point_dir = run_dir / p.dir
            results_path = point_dir / "results.json"
            state = status_of(results_path)
            if state == "complete":
                status[p.index] = state
                continue
            display.line(f"sweep point {p.index + 1}/{len(points)}: {p.label}")
            status[p.index] = "running"
            write_document(config, points, status, run_dir, started, display)
            if state is None:
                if point_dir.exists():  # made but never recorded a job: start it afresh
                    clear_point(point_dir)
                run_experiment(point_config, point_dir, display, available)
            else:
                resume_experiment(point_dir, display, available)
            status[p.index] = "complete"
    except BaseException:
        for p in points:
            if status.get(p.index) == "running":
                status[p.index] = "interrupted"
        write_document(config, points, status, run_dir, started, display)
        raise
    return write_document(config, points, status, run_dir, started, display, final=True)


def status_of(results_path: Path) -> str | None:
    if not results_path.is_file():
        return None
    try:
        return str(json.loads(results_path.read_text(encoding="utf-8")).get("status"))
    except (OSError, json.JSONDecodeError):
        return None


def clear_point(folder: Path) -> None:
    """Remove a point's folder that is to be run again from the start."""
    shutil.rmtree(folder)


def write_document(
    config: Config,
    points: list[Point],
    status: Mapping[int, str],
    run_dir: Path,
    started: str,
    display: Display,
    *,
    final: bool = False,
    reasons: Mapping[int, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sweep's results.json from the points' own documents (and, when final, its report).

    `reasons`: why a point failed (index -> one line); `extra`: top-level keys to add.
    """
    from harness.analysis import crossover

    doc = aggregate(config, points, status, run_dir, started, reasons)
    doc.update(extra or {})
    if final:
        doc["sweep"]["crossover"] = crossover.analyse(doc)
        doc["status"] = "complete"
        doc["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save_results(run_dir / "results.json", doc)
    if final:
        from harness.report import write_report

        for path in write_report(run_dir, doc):
            display.line(f"report: {path}")
    return doc


def aggregate(
    config: Config,
    points: list[Point],
    status: Mapping[int, str],
    run_dir: Path,
    started: str,
    reasons: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """One results document of every point's: measurements, checks, comparisons with `point`.

    A point that ran on a cluster node has that node's facts in `points/NN/node.json`
    (harness/cluster): they become `sweep.points[i].node` and each measurement's `node`.
    """
    docs: dict[int, dict[str, Any]] = {}
    nodes: dict[int, dict[str, Any]] = {}
    for p in points:
        path = run_dir / p.dir / "results.json"
        if path.is_file():
            docs[p.index] = json.loads(path.read_text(encoding="utf-8"))
        node = run_dir / p.dir / NODE_FILE
        if node.is_file():
            nodes[p.index] = json.loads(node.read_text(encoding="utf-8"))
    first = docs[min(docs)] if docs else None
    measurements, checks, comparisons = [], [], []
    implementations: dict[str, Any] = {}
    builds: list[dict[str, Any]] = []
    for index, one in sorted(docs.items()):
        prefix = points[index].dir
        for m in one.get("measurements", []):
            runs = [{**r, "dir": f"{prefix}/{r['dir']}"} for r in m.get("runs", [])]
            where = {"node": node_summary(nodes[index])} if index in nodes else {}
            measurements.append({**m, "runs": runs, "point": index, **where})
        checks += [{**c, "point": index} for c in one.get("checks", [])]
        comparisons += [{**c, "point": index} for c in one.get("comparisons") or []]
        implementations.update(one.get("implementations", {}))
        builds = builds or one.get("builds", [])
    machine = dict(first["machine"]) if first else {}
    peaks = {
        i: (d["machine"].get("sgemm_gflops"), d["machine"].get("fma_peak_gflops"))
        for i, d in docs.items()
    }
    if not nodes:
        machine.update(best_probes(docs))
    states = {
        p.index: status.get(p.index) or status_of(run_dir / p.dir / "results.json") for p in points
    }
    doc: dict[str, Any] = {
        "format_version": RESULTS_FORMAT_VERSION,
        "protocol": first["protocol"] if first else 1,
        "name": config.name,
        "device": config.device,
        "status": "running",
        "started_utc": started,
        "finished_utc": None,
        "machine": machine,
        "config": dict(config.raw),
        "dataset": first["dataset"] if first else {"source": "none", "root": "", "sha256": ""},
        "implementations": implementations,
        "builds": builds,
        "measurements": measurements,
        "checks": checks,
        "comparisons": comparisons,
        "sweep": {
            "keys": list(config.sweep or {}),
            "points": [
                {
                    "index": p.index,
                    "values": p.values,
                    "dir": p.dir,
                    "status": states[p.index] or "pending",
                    **_peaks(peaks.get(p.index)),
                    **({"node": nodes[p.index]} if p.index in nodes else {}),
                    **({"reason": reasons[p.index]} if reasons and p.index in reasons else {}),
                }
                for p in points
            ],
        },
    }
    if any(s in ("interrupted", "failed") for s in states.values()):
        doc["status"] = "interrupted"
    return doc


NODE_FILE = "node.json"  # a point run on a cluster node: that node's facts (harness/cluster)


def node_summary(node: Mapping[str, Any]) -> dict[str, Any]:
    """The few node facts each measurement carries: which node, which CPU."""
    keys = ("node_id", "ip", "hostname", "cpu_model")
    return {k: node[k] for k in keys if k in node}


def best_probes(docs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The machine's SGEMM and FMA probes for a sweep on one machine: each the best point's.

    Every point probes after its last job; one whose second thread lost its core for a moment
    reads up to half the peak, so the machine's figure is the best probe of the run, with that
    probe's record (`sgemm`, `fma_peak`). Each point keeps its own in `sweep.points[]`.
    """
    out: dict[str, Any] = {}
    for key, record in (("sgemm_gflops", "sgemm"), ("fma_peak_gflops", "fma_peak")):
        found = [
            d["machine"] for d in docs.values() if isinstance(d["machine"].get(key), (int, float))
        ]
        if found:
            best = max(found, key=lambda m: float(m[key]))
            out[key] = best[key]
            if record in best:
                out[record] = best[record]
    return out


def _peaks(peaks: tuple[Any, Any] | None) -> dict[str, Any]:
    if peaks is None:
        return {}
    return {"sgemm_gflops": peaks[0], "fma_peak_gflops": peaks[1]}
