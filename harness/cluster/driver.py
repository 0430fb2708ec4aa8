"""The driver of a cluster run: connect, check the nodes, one Ray task per unit, write back.

    python -m harness run CONFIG --cluster HOST:PORT          (a sweep: one task per point)
    python -m harness run --resume RUN_DIR --cluster HOST:PORT

Before any work the driver checks that the address answers and that the cluster has alive
nodes with the custom resource `oneshot-bench-node`; each problem is one `error:` line. Every
task requests `{"oneshot-bench-node": 1}`, so a node runs one benchmark at a time. A sweep's
points run as parallel tasks, each written, when it returns, into `points/NN/` exactly as a
local sweep writes it, plus `points/NN/node.json` (the node's facts); the sweep's document is
then rebuilt by harness/run/sweep.py, which adds the node to each point and measurement. A
config without a sweep is one task whose folder becomes the run folder (`node.json` beside
its results.json, and the document's `node`); with `--per-node` it runs once on every benchmark
node, each task pinned to its node, into `nodes/NN/`, indexed by `nodes.json`.

Faults: Ray retries a task whose worker or node died once (`max_retries`); a task that still
fails (its node died twice, it cannot be scheduled, the run raised on the node) leaves its
point `failed` with the reason in `sweep.points[i].reason`, the other points run on, and
`--resume RUN_DIR --cluster ADDRESS` runs again every point without a complete results.json.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.cluster.node import RESOURCE, run_unit, unpack
from harness.errors import HarnessError
from harness.process import impls
from harness.process.protocol import atomic_write_json
from harness.result_sections import _Model
from harness.results import ClusterInfo, ClusterNode, NodeInfo, Results
from harness.results import load as load_results
from harness.results import save as save_results
from harness.run.config import Config, load_config
from harness.run.context import require_new_folder
from harness.run.display import Display
from harness.run.sweep import (
    NODE_FILE,
    clear_point,
    node_summary,
    start_sweep_dir,
    started_utc,
    status_of,
    write_document,
)

RETRIES = 1  # Ray reruns a task whose worker or node died this many times
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Unit:
    """One Ray task: a config without a sweep, run on a node into `dest`."""

    index: int
    label: str
    raw: dict[str, Any]
    dest: Path
    pin: str | None = None  # run on this node (its Ray node id) and nowhere else


@dataclass(frozen=True)
class Done:
    unit: Unit
    result: dict[str, Any] | None  # run_unit's return value; None when the task failed
    reason: str | None = None


# --- connecting ------------------------------------------------------------------------------


def connect(address: str) -> list[ClusterNode]:
    """ray.init to a running cluster; its alive benchmark nodes, or one HarnessError line."""
    try:
        import ray
    except ImportError:
        raise HarnessError(
            "--cluster needs Ray: pip install -e '.[cluster]' (ray 2.60.0) on the driver "
            "and every node"
        ) from None
    check_reachable(address)
    # ray.init installs its own SIGTERM handler (exit 1); keep the harness's (an interrupt that
    # stops the tasks and records the points as interrupted).
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError ...
        raise HarnessError(f"--cluster {address}: cannot connect to Ray: {one_line(e)}") from None
    finally:
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
    nodes = benchmark_nodes(ray.nodes())
    if not nodes:
        ray.shutdown()
        raise HarnessError(
            f"--cluster {address}: no alive node has the resource {RESOURCE}; start each "
            f"benchmark node with ray start ... --resources='{{\"{RESOURCE}\": 1}}'"
        )
    return nodes


def check_reachable(address: str) -> None:
    """Fail fast on an address nothing listens at (ray.init would wait for minutes)."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        if address in ("auto", "local"):
            return
        raise HarnessError(f"--cluster {address}: expected HOST:PORT, e.g. 10.0.0.1:6379")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise HarnessError(
            f"--cluster {address}: no Ray cluster answers there ({e.strerror or e}); start one "
            f"with ray start --head --resources='{{\"{RESOURCE}\": 1}}'"
        ) from None


def benchmark_nodes(nodes: list[dict[str, Any]]) -> list[ClusterNode]:
    """The alive nodes of ray.nodes() (Ray's dicts) that declare the benchmark resource."""
    return [
        ClusterNode(
            node_id=n["NodeID"],
            ip=n.get("NodeManagerAddress"),
            hostname=n.get("NodeManagerHostname"),
        )
        for n in nodes
        if n.get("Alive") and n.get("Resources", {}).get(RESOURCE, 0) >= 1
    ]


def one_line(e: BaseException, limit: int = 300) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reason_of(e: BaseException) -> str:
    """A failed task's reason in one line: the exception on the node, or Ray's own."""
    cause = getattr(e, "cause", None)
    return one_line(cause if isinstance(cause, BaseException) else e)


# --- running ---------------------------------------------------------------------------------


def run_units(units: list[Unit], retries: int = RETRIES) -> Iterator[Done]:
    """Submit every unit as a Ray task and yield each as it finishes (or fails)."""
    import ray

    remote = ray.remote(run_unit)
    base = str(Path.cwd())
    folder = os.environ.get(impls.IMPLS_ENV)
    pending = {_options(remote, u.pin, retries).remote(u.raw, base, folder): u for u in units}
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ref)
            try:
                yield Done(unit, ray.get(ref))
            except ray.exceptions.RayError as e:
                yield Done(unit, None, reason_of(e))
    finally:
        for ref in pending:  # interrupted: stop what still runs or waits
            ray.cancel(ref)  # KeyboardInterrupt in the task: the runner kills its job


def _options(remote: Any, pin: str | None, retries: int) -> Any:
    """The task's options: one benchmark resource, no CPU claimed, retries; pinned to a node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "resources": {RESOURCE: 1},
        "num_cpus": 0,
        "max_retries": retries,
        "retry_exceptions": False,
    }
    if pin is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(pin, soft=False)
    return remote.options(**options)


def write_unit(done: Done) -> NodeInfo:
    """A finished unit's folder and node facts into its destination; the node's facts."""
    assert done.result is not None  # run_unit's answer: the task's boundary, a dict
    unpack(done.result["archive"], done.unit.dest)
    node = NodeInfo.model_validate(done.result["node"])
    atomic_write_json(done.unit.dest / NODE_FILE, node.dump())
    return node


def run_on_cluster(
    config: Config,
    run_dir: Path,
    display: Display,
    address: str,
    retries: int = RETRIES,
    per_node: bool = False,
) -> dict[str, Any]:
    """`harness run CONFIG --cluster ADDRESS`: a sweep's points, or the whole run, on the nodes.

    `per_node`: a config without a sweep, run once on every benchmark node (nodes/NN/).
    """
    if per_node and config.sweep:
        raise HarnessError(
            "--per-node runs a config without a sweep once on every node; this one has a sweep "
            "(its points are spread over the nodes without --per-node)"
        )
    impls.select(config.implementations, impls.discover())  # fail before any work
    require_new_folder(run_dir)
    return _drive(config, run_dir, display, address, retries, fresh=True, per_node=per_node)


def resume_on_cluster(
    run_dir: Path, display: Display, address: str, retries: int = RETRIES
) -> dict[str, Any]:
    """`harness run --resume RUN_DIR --cluster ADDRESS`: run again what is not complete."""
    config = load_config(run_dir / "config.yaml")
    per_node = (run_dir / PER_NODE_FILE).is_file()
    return _drive(config, run_dir, display, address, retries, per_node=per_node)


def _drive(
    config: Config,
    run_dir: Path,
    display: Display,
    address: str,
    retries: int,
    fresh: bool = False,
    per_node: bool = False,
) -> dict[str, Any]:
    import ray

    nodes = connect(address)  # before anything is written
    try:
        if fresh and config.sweep:
            start_sweep_dir(config, run_dir)
        names = ", ".join(f"{n.hostname} {n.ip}" for n in nodes)
        display.line(f"cluster {address}: {len(nodes)} benchmark node(s): {names}")
        facts = ClusterInfo(address=address, nodes=nodes)
        if per_node:
            return _per_node(config, run_dir, display, retries, facts, fresh).dump()
        if config.sweep:
            return _sweep(config, run_dir, display, retries, facts).dump()
        return _single(config, run_dir, display, retries, facts).dump()
    finally:
        ray.shutdown()


def _sweep(
    config: Config, run_dir: Path, display: Display, retries: int, facts: ClusterInfo
) -> Results:
    points = [p for p, _ in config.points]
    started = started_utc(run_dir)
    status: dict[int, str] = {}
    reasons: dict[int, str] = {}
    units = []
    for p in points:
        dest = run_dir / p.dir
        if status_of(dest / "results.json") == "complete":
            status[p.index] = "complete"
            continue
        if dest.exists():  # cut off or failed before: run it again from the start
            clear_point(dest)
        units.append(Unit(p.index, p.label, dict(p.raw), dest))
        status[p.index] = "running"  # submitted: running or waiting for a free node
    display.line(f"sweep: {len(units)} of {len(points)} points to run on the cluster")
    write_document(config, points, status, run_dir, started, display, cluster=facts)
    try:
        for done in run_units(units, retries):
            i = done.unit.index
            where = f"sweep point {i + 1}/{len(points)} ({done.unit.label})"
            if done.result is None:
                status[i] = "failed"
                reasons[i] = done.reason or "failed"
                display.line(f"{where}: failed: {reasons[i]}")
            else:
                node = write_unit(done)
                status[i] = status_of(done.unit.dest / "results.json") or "failed"
                display.line(f"{where}: {status[i]} on {node.hostname} {node.ip}")
            write_document(
                config, points, status, run_dir, started, display, reasons=reasons, cluster=facts
            )
    except BaseException:
        for index, state in status.items():
            if state == "running":
                status[index] = "interrupted"
        write_document(
            config, points, status, run_dir, started, display, reasons=reasons, cluster=facts
        )
        raise
    final = all(s == "complete" for s in status.values())
    return write_document(
        config, points, status, run_dir, started, display, final=final, reasons=reasons,
        cluster=facts,
    )  # fmt: skip


def _single(
    config: Config, run_dir: Path, display: Display, retries: int, facts: ClusterInfo
) -> Results:
    results = run_dir / "results.json"
    if status_of(results) == "complete":
        display.line(f"{results}: complete already; nothing to run")
        return load_results(results)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    unit = Unit(0, config.name, dict(config.raw), run_dir)
    [done] = list(run_units([unit], retries))
    if done.result is None:
        raise HarnessError(f"the run failed on the cluster: {done.reason}")
    node = write_unit(done)
    display.line(f"ran on {node.hostname} {node.ip}")
    return annotate(results, node, facts)


def annotate(results: Path, node: NodeInfo, facts: ClusterInfo) -> Results:
    """Add the node (the document's `node`, each measurement's) and the cluster to a run's."""
    doc = load_results(results)
    where = node_summary(node)
    measurements = [m.model_copy(update={"node": where}) for m in doc.measurements]
    doc = doc.model_copy(update={"node": node, "cluster": facts, "measurements": measurements})
    save_results(results, doc)
    return doc


PER_NODE_FILE = "nodes.json"  # a --per-node run's index: every node's folder and status


class NodeRun(_Model):
    """A --per-node run's entry in nodes.json: the node, its folder and where its run stands."""

    index: int
    dir: str
    node_id: str
    ip: str | None
    hostname: str | None
    status: str  # pending | running | complete | failed
    reason: str | None = None  # why it failed


class PerNodeIndex(_Model):
    """nodes.json: the cluster and every node's run."""

    cluster: ClusterInfo
    nodes: list[NodeRun]


def _per_node(
    config: Config,
    run_dir: Path,
    display: Display,
    retries: int,
    facts: ClusterInfo,
    fresh: bool,
) -> PerNodeIndex:
    """The whole run once on every node, each pinned to it, into nodes/NN/; the index."""
    index_path = run_dir / PER_NODE_FILE
    if fresh:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(dict(config.raw), sort_keys=False))
        entries = [
            NodeRun(index=i, dir=f"nodes/{i:02d}", **node.dump(), status="pending")
            for i, node in enumerate(facts.nodes)
        ]
    else:
        entries = PerNodeIndex.model_validate_json(index_path.read_text(encoding="utf-8")).nodes
    alive = {n.node_id for n in facts.nodes}
    units = []
    for i, e in enumerate(entries):
        dest = run_dir / e.dir
        if status_of(dest / "results.json") == "complete":
            entries[i] = e.model_copy(update={"status": "complete"})
            continue
        if dest.exists():
            shutil.rmtree(dest)
        if e.node_id not in alive:
            gone = {"status": "failed", "reason": "the node is no longer in the cluster"}
            entries[i] = e.model_copy(update=gone)
            continue
        kept = {k: v for k, v in e.dump().items() if k != "reason"}  # run again: no reason yet
        entries[i] = NodeRun(**{**kept, "status": "running"})
        units.append(Unit(e.index, f"{e.hostname} {e.ip}", dict(config.raw), dest, e.node_id))
    atomic_write_json(index_path, PerNodeIndex(cluster=facts, nodes=entries).dump())
    for done in run_units(units, retries):
        e = entries[done.unit.index]
        if done.result is None:
            e = e.model_copy(update={"status": "failed", "reason": done.reason or "failed"})
        else:
            annotate(done.unit.dest / "results.json", write_unit(done), facts)
            state = status_of(done.unit.dest / "results.json") or "failed"
            e = e.model_copy(update={"status": state})
        entries[done.unit.index] = e
        display.line(f"node {done.unit.label}: {e.status} {e.reason or ''}".rstrip())
        atomic_write_json(index_path, PerNodeIndex(cluster=facts, nodes=entries).dump())
    return PerNodeIndex(cluster=facts, nodes=entries)
