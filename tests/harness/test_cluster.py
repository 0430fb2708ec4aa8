"""Runs across machines: `harness run --cluster` on a real local Ray cluster of two nodes.

One `ray.cluster_utils.Cluster` per module (two simulated nodes on this machine, each with one
CPU and the resource `oneshot-bench-node`), sweeps of the fake implementation (its impl.yaml
folder through ONESHOT_BENCH_IMPLS, which the driver hands to every task), a node removed
mid-run. Skipped where Ray is not installed.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.sweep import by_machine
from harness.results import parse
from harness.run.config import load_config
from harness.run.sweep import run_sweep
from tests.harness_cli import start_harness, with_impls

from .fakerun import quiet, tiny_dataset
from .test_sweep import FAKE

pytestmark = pytest.mark.slow  # a real local Ray cluster per test: 3-25 s each
pytest.importorskip("ray", reason="the cluster tests need Ray: pip install -e '.[cluster]'")

from ray.cluster_utils import Cluster  # noqa: E402 (after the importorskip)

RESOURCE = "oneshot-bench-node"
NODE = {"num_cpus": 1, "resources": {RESOURCE: 1}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(initialize_head=True, head_node_args=dict(NODE))
    c.add_node(**NODE)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def impl_folder(folder: Path, sleep_s: float) -> Path:
    """Two fake implementations' impl.yaml (a and b), each job sleeping sleep_s."""
    impls = folder / "impls"
    for name in ("a", "b"):
        (impls / name).mkdir(parents=True)
        cmd = ["{python}", str(FAKE), "--sleep-s", str(sleep_s), "run", "{job}"]
        (impls / name / "impl.yaml").write_text(
            json.dumps({"id": name, "language": "python", "run": cmd})
        )
    return impls


def config_file(folder: Path, scales: list[float], repeats: int = 2) -> Path:
    raw: dict[str, Any] = {
        "name": "cluster",
        "threads": 1,
        "warmup": 0,
        "repeats": repeats,
        "implementations": ["a", "b"],
        "dataset": {"root": str(tiny_dataset(folder))},
        "model": {"preset": "tiny"},
        "roofline": {"measure": "never"},
        "tasks": [{"forward": {"batch": 2, "input_pairs": 8}}],
        "sweep": {"model.width_scale": scales},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(raw))
    return path


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_sweep_runs_one_point_per_task_and_records_the_nodes(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ONESHOT_BENCH_IMPLS", str(impl_folder(tmp_path, 0.05)))
    config = config_file(tmp_path, [0.5, 1])
    out = tmp_path / "run"
    t0 = time.monotonic()
    assert main(["run", str(config), "--out", str(out), "--cluster", cluster.address]) == 0
    print(f"cluster sweep of 2 points: {time.monotonic() - t0:.1f} s")
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "complete"
    points = doc["sweep"]["points"]
    assert [p["status"] for p in points] == ["complete", "complete"]
    ids = {n.node_id for n in cluster.list_all_nodes()}
    for p in points:
        assert p["node"]["node_id"] in ids and p["node"]["cpu_model"]
    assert {m["node"]["node_id"] for m in doc["measurements"]} <= ids
    assert len(doc["cluster"]["nodes"]) == 2
    assert doc["sweep"]["crossover"] is not None
    assert len({p["node"]["node_id"] for p in points}) == 2  # one point on each node
    md = (out / "report.md").read_text()
    assert "Points by machine" in md and "the nodes have one CPU model" in md
    points[1]["node"]["cpu_model"] = "another CPU"
    grouped = by_machine(parse(doc))
    assert grouped is not None and "2 CPU models" in grouped.note
    assert [row[4] for row in grouped.rows] == ["0", "1"]

    # The same sweep run locally: the same documents and files, less the node facts.
    local = tmp_path / "local"
    local_doc = run_sweep(load_config(config), local, quiet())
    assert set(doc) - {"cluster"} == set(local_doc)
    assert files(out) - {"points/00/node.json", "points/01/node.json"} == files(local)
    assert [set(p) - {"node"} for p in points] == [set(p) for p in local_doc["sweep"]["points"]]
    for remote, here in zip(doc["measurements"], local_doc["measurements"], strict=True):
        assert set(remote) - {"node"} == set(here)
        assert [r["dir"] for r in remote["runs"]] == [r["dir"] for r in here["runs"]]
    point = json.loads((out / "points/01/results.json").read_text())
    assert point["status"] == "complete" and "sweep" not in point["config"]


def single_config(tmp_path: Path) -> Path:
    """The small config of these tests without its sweep: one run, one point."""
    raw = json.loads(config_file(tmp_path, [1], repeats=1).read_text())
    del raw["sweep"]
    config = tmp_path / "single.yaml"
    config.write_text(json.dumps(raw))
    return config


def test_a_run_without_a_sweep_is_one_task(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONESHOT_BENCH_IMPLS", str(impl_folder(tmp_path, 0.05)))
    config = single_config(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--cluster", cluster.address]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "complete" and doc["node"]["hostname"]
    assert all(m["node"]["node_id"] == doc["node"]["node_id"] for m in doc["measurements"])
    assert (out / "node.json").is_file() and (out / "report.md").is_file()
    for m in doc["measurements"]:
        assert all((out / r["dir"] / "result.json").is_file() for r in m["runs"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_address_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ONESHOT_BENCH_IMPLS", str(impl_folder(tmp_path, 0.05)))
    config = config_file(tmp_path, [1])
    address = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--cluster", address]) == 1
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --cluster {address}: no Ray cluster answers there")
    assert "\n" not in err
    assert not (tmp_path / "run").exists()


def test_a_cluster_without_benchmark_nodes_is_one_error_line(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ONESHOT_BENCH_IMPLS", str(impl_folder(tmp_path, 0.05)))
    plain = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    address = plain.address
    try:
        config = config_file(tmp_path, [1])
        out = tmp_path / "run"
        assert main(["run", str(config), "--out", str(out), "--cluster", address]) == 1
    finally:
        plain.shutdown()
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: --cluster {address}: no alive node has the resource {RESOURCE}; "
        f"start each benchmark node with ray start ... --resources='{{\"{RESOURCE}\": 1}}'"
    )


def worker_node(cluster: Cluster) -> Any:
    [node] = [n for n in cluster.list_all_nodes() if n is not cluster.head_node]
    return node


def kill_mid_run(cluster: Cluster, tmp_path: Path, retries: int) -> tuple[Path, str, Any]:
    """A 2-point sweep of slow jobs; the worker node removed while both points run."""
    impls = impl_folder(tmp_path, 1.0)
    config = config_file(tmp_path, [0.5, 1])
    out = tmp_path / "run"
    cmd = ["run", str(config), "--out", str(out), "--cluster", cluster.address]
    proc = start_harness(*cmd, "--retries", str(retries), env=with_impls(impls), text=True)
    time.sleep(6)  # both points started (one per node); each takes 8+ s
    assert proc.poll() is None
    cluster.remove_node(worker_node(cluster))
    try:
        _, err = proc.communicate(timeout=180)
    finally:
        cluster.add_node(**NODE)  # back to two nodes for the next test
        cluster.wait_for_nodes()
    return out, err, proc.returncode


def test_a_point_whose_node_dies_is_retried_on_another(cluster: Cluster, tmp_path: Path) -> None:
    head = cluster.head_node.node_id
    out, err, rc = kill_mid_run(cluster, tmp_path, retries=1)
    assert rc == 0, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "complete"
    assert [p["status"] for p in doc["sweep"]["points"]] == ["complete", "complete"]
    assert {p["node"]["node_id"] for p in doc["sweep"]["points"]} == {head}


def test_a_lost_point_is_failed_with_its_reason_and_resume_runs_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    out, err, rc = kill_mid_run(cluster, tmp_path, retries=0)
    assert rc == 1
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "interrupted"
    states = [p["status"] for p in doc["sweep"]["points"]]
    assert sorted(states) == ["complete", "failed"], states
    [lost] = [p for p in doc["sweep"]["points"] if p["status"] == "failed"]
    print(f"lost point: {lost['reason']}")
    assert any(word in lost["reason"] for word in ("Died", "Crashed", "Unavailable", "Lost"))
    assert f"error: sweep point {lost['index']} failed: {lost['reason']}" in err
    [kept] = [p for p in doc["sweep"]["points"] if p["status"] == "complete"]
    before = (out / kept["dir"] / "results.json").read_bytes()

    resume = ["run", "--resume", str(out), "--cluster", cluster.address]
    proc = start_harness(*resume, env=with_impls(tmp_path / "impls"), text=True)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "complete"
    assert [p["status"] for p in doc["sweep"]["points"]] == ["complete", "complete"]
    assert "reason" not in doc["sweep"]["points"][lost["index"]]
    assert (out / kept["dir"] / "results.json").read_bytes() == before  # not run again


def test_per_node_runs_the_whole_config_once_on_every_node(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ONESHOT_BENCH_IMPLS", str(impl_folder(tmp_path, 0.05)))
    config = single_config(tmp_path)
    out = tmp_path / "run"
    cmd = ["run", str(config), "--out", str(out), "--cluster", cluster.address, "--per-node"]
    assert main(cmd) == 0
    index = json.loads((out / "nodes.json").read_text())
    assert [e["status"] for e in index["nodes"]] == ["complete", "complete"]
    ran = set()
    for e in index["nodes"]:
        doc = json.loads((out / e["dir"] / "results.json").read_text())
        assert doc["status"] == "complete" and doc["node"]["node_id"] == e["node_id"]
        ran.add(doc["node"]["node_id"])
    assert ran == {n.node_id for n in cluster.list_all_nodes()}  # each pinned to its node
    assert capsys.readouterr().out.count("results (") == 2

    again = ["run", "--resume", str(out), "--cluster", cluster.address]
    before = (out / "nodes/00/results.json").read_bytes()
    assert main(again) == 0
    assert (out / "nodes/00/results.json").read_bytes() == before


def test_per_node_refuses_a_sweep(cluster: Cluster, tmp_path: Path, capsys: Any) -> None:
    config = config_file(tmp_path, [0.5, 1])
    cmd = ["run", str(config), "--cluster", cluster.address, "--per-node"]
    assert main(cmd) == 1
    assert "error: --per-node runs a config without a sweep" in capsys.readouterr().err


def test_an_interrupted_cluster_sweep_stops_its_tasks_and_resumes(
    cluster: Cluster, tmp_path: Path
) -> None:
    impls = impl_folder(tmp_path, 1.0)
    config = config_file(tmp_path, [0.25, 0.5, 1])
    out = tmp_path / "run"
    cmd = ["run", str(config), "--out", str(out), "--cluster", cluster.address]
    proc = start_harness(*cmd, env=with_impls(impls), text=True)
    time.sleep(5)  # two points running, one waiting for a node
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads((out / "results.json").read_text())
    assert doc["status"] == "interrupted"
    assert [p["status"] for p in doc["sweep"]["points"]] == ["interrupted"] * 3
    time.sleep(1)
    jobs = subprocess.run(["pgrep", "-f", str(impls)], capture_output=True, text=True)
    assert jobs.stdout == "", "a cancelled task left its job running"

    proc = start_harness(
        "run", "--resume", str(out), "--cluster", cluster.address, env=with_impls(impls), text=True
    )
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    doc = json.loads((out / "results.json").read_text())
    assert [p["status"] for p in doc["sweep"]["points"]] == ["complete"] * 3
