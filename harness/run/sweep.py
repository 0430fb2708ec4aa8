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
                        (job folders relative to RUN; the comparisons' p-values adjusted over
                        every point's together, analysis/ratios.py), plus `sweep` (keys,
                        points and their status, the crossover analysis: analysis/crossover.py)
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

from harness.analysis.ratios import adjust
from harness.errors import HarnessError
from harness.process import impls
from harness.results import (
    RESULTS_FORMAT_VERSION,
    Build,
    ClusterInfo,
    Dataset,
    Implementation,
    Machine,
    NodeInfo,
    NodeSummary,
    Results,
    Sweep,
    SweepPoint,
)
from harness.results import load as load_results
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
    return _execute(config, run_dir, display, available).dump()


def start_sweep_dir(
    config: Config, run_dir: Path, available: dict[str, impls.Implementation] | None = None
) -> None:
    """Check the implementations and the folder before any work; write the sweep's config."""
    chosen = impls.select(config.implementations, available or impls.discover())
    impls.tasks_note([t.name for t in config.tasks], chosen)  # fail before any work
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
    return _execute(load_sweep_config(run_dir), run_dir, display, available).dump()


def load_sweep_config(run_dir: Path) -> Config:
    """The config a sweep run folder was started with (its config.yaml)."""
    config = load_config(run_dir / "config.yaml")
    if not config.sweep:
        raise HarnessError(f"{run_dir}: its config.yaml has no sweep; not a sweep run")
    return config


def started_utc(run_dir: Path) -> str:
    """When the sweep in run_dir started: its results.json's, else now."""
    previous = run_dir / "results.json"
    if previous.is_file():
        try:
            return load_results(previous).started_utc
        except HarnessError:
            pass  # unreadable: the sweep's document is rebuilt from its points anyway
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _execute(
    config: Config,
    run_dir: Path,
    display: Display,
    available: dict[str, impls.Implementation] | None,
) -> Results:
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
    cluster: ClusterInfo | None = None,
) -> Results:
    """The sweep's results.json from the points' own documents (and, when final, its report).

    `reasons`: why a point failed (index -> one line); `cluster`: the cluster it ran on.
    """
    from harness.analysis import crossover

    doc = aggregate(config, points, status, run_dir, started, reasons)
    if cluster is not None:
        doc = doc.model_copy(update={"cluster": cluster})
    if final and doc.sweep is not None:
        sweep = doc.sweep.model_copy(update={"crossover": crossover.analyse(doc)})
        finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        doc = doc.model_copy(
            update={"sweep": sweep, "status": "complete", "finished_utc": finished}
        )
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
) -> Results:
    """One results document of every point's: measurements, checks, comparisons with `point`.

    A point that ran on a cluster node has that node's facts in `points/NN/node.json`
    (harness/cluster): they become `sweep.points[i].node` and each measurement's `node`.
    """
    docs: dict[int, Results] = {}
    nodes: dict[int, NodeInfo] = {}
    for p in points:
        if (path := run_dir / p.dir / "results.json").is_file():
            docs[p.index] = load_results(path)
        if (node := run_dir / p.dir / NODE_FILE).is_file():
            nodes[p.index] = read_node(node)
    first = docs[min(docs)] if docs else None
    measurements, checks, comparisons, serving = [], [], [], []
    implementations: dict[str, Implementation] = {}
    builds: list[Build] = []
    for index, one in sorted(docs.items()):
        prefix = points[index].dir
        where = {"node": node_summary(nodes[index])} if index in nodes else {}
        for m in one.measurements:
            runs = [r.model_copy(update={"dir": f"{prefix}/{r.dir}"}) for r in m.runs]
            measurements.append(m.model_copy(update={"runs": runs, "point": index, **where}))
        checks += [c.model_copy(update={"point": index}) for c in one.checks]
        comparisons += [c.model_copy(update={"point": index}) for c in one.comparisons or []]
        serving += [s.model_copy(update={"point": index}) for s in one.serving or []]
        implementations.update(one.implementations)
        builds = builds or one.builds
    machine = first.machine if first else Machine()
    if not nodes:
        machine = machine.model_copy(update=best_probes({i: d.machine for i, d in docs.items()}))
    states = {
        p.index: status.get(p.index) or status_of(run_dir / p.dir / "results.json") for p in points
    }
    sweep = Sweep(
        keys=list(config.sweep or {}),
        points=[sweep_point(p, states[p.index], docs, nodes, reasons or {}) for p in points],
    )
    lost = any(s in ("interrupted", "failed") for s in states.values())
    doc = Results(
        format_version=RESULTS_FORMAT_VERSION,
        protocol=first.protocol if first else 1,
        name=config.name,
        device=config.device,
        status="interrupted" if lost else "running",
        started_utc=started,
        finished_utc=None,
        machine=machine,
        config=dict(config.raw),
        dataset=first.dataset if first else Dataset(source="none", root="", sha256=""),
        implementations=implementations,
        builds=builds,
        measurements=measurements,
        checks=checks,
        comparisons=adjust(comparisons),  # Benjamini-Hochberg over every point's
        sweep=sweep,
    )
    return doc.model_copy(update={"serving": serving}) if serving else doc


def sweep_point(
    p: Point,
    state: str | None,
    docs: Mapping[int, Results],
    nodes: Mapping[int, NodeInfo],
    reasons: Mapping[int, str],
) -> SweepPoint:
    """`sweep.points[i]`: where the point stands, its own probes, its node, why it failed."""
    fields: dict[str, Any] = {}
    if (doc := docs.get(p.index)) is not None:
        fields.update(sgemm_gflops=doc.machine.sgemm_gflops)
        fields.update(fma_peak_gflops=doc.machine.fma_peak_gflops)
    if p.index in nodes:
        fields.update(node=nodes[p.index])
    if p.index in reasons:
        fields.update(reason=reasons[p.index])
    return SweepPoint(
        index=p.index, values=p.values, dir=p.dir, status=state or "pending", **fields
    )


NODE_FILE = "node.json"  # a point run on a cluster node: that node's facts (harness/cluster)


def read_node(path: Path) -> NodeInfo:
    """A node.json (cluster/driver.py writes it); HarnessError when it is not one."""
    try:
        return NodeInfo.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HarnessError(f"{path}: not a node's facts: {str(e).splitlines()[0]}") from None


def node_summary(node: NodeInfo) -> NodeSummary:
    """The few node facts each measurement carries: which node, which CPU."""
    keys = ("node_id", "ip", "hostname", "cpu_model")
    return NodeSummary(**{k: getattr(node, k) for k in keys if k in node.model_fields_set})


def best_probes(machines: Mapping[int, Machine]) -> dict[str, Any]:
    """The machine's SGEMM and FMA probes for a sweep on one machine: each the best point's.

    Every point probes after its last job; one whose second thread lost its core for a moment
    reads up to half the peak, so the machine's figure is the best probe of the run, with that
    probe's record (`sgemm`, `fma_peak`). Each point keeps its own in `sweep.points[]`. The
    answer is an update of the first point's `Machine`.
    """
    out: dict[str, Any] = {}
    for key, record in (("sgemm_gflops", "sgemm"), ("fma_peak_gflops", "fma_peak")):
        found = [m for m in machines.values() if getattr(m, key) is not None]
        if found:
            best = max(found, key=lambda m: float(getattr(m, key)))
            out[key] = getattr(best, key)
            if record in best.model_fields_set:
                out[record] = getattr(best, record)
    return out
