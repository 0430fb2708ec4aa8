"""What a cluster task does on its node: the ordinary local runner, its folder sent back.

`run_unit` is the body of the Ray task (driver.py makes it remote): it validates the point's
config with the driver's base folder (every node has the checkout and the data at the same
path), runs `run_experiment` into a temporary folder, and returns that folder as a tar archive
in memory with the node's facts (`machine_facts()` plus Ray's node id and address). Nothing in
a job changes: the same launcher, sampling and wait4 as a local run.
"""

from __future__ import annotations

import io
import socket
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.analysis.machine import machine_facts
from harness.process import impls
from harness.run.config import from_dict
from harness.run.display import Display
from harness.run.experiment import run_experiment

RESOURCE = "oneshot-bench-node"  # the custom resource every benchmark node declares, once


def run_unit(raw: dict[str, Any], base: str, impls_folder: str | None) -> dict[str, Any]:
    """Run one config (no sweep) here; return its run folder as tar bytes, the log and facts."""
    facts = node_facts()
    log = io.StringIO()
    display = Display(Console(file=log, stderr=False, width=100))
    config = from_dict(raw, base=Path(base))
    available = impls.discover(Path(impls_folder)) if impls_folder else None
    with tempfile.TemporaryDirectory(prefix="oneshot-bench-unit-") as tmp:
        run_dir = Path(tmp) / "run"
        run_experiment(config, run_dir, display, available)
        return {"archive": pack(run_dir), "node": facts, "log": log.getvalue()}


def node_facts() -> dict[str, Any]:
    """This node's facts: machine.py's, Ray's node id and address, the host name."""
    import ray

    context = ray.get_runtime_context()
    return {
        "node_id": context.get_node_id(),
        "ip": ray.util.get_node_ip_address(),
        "hostname": socket.gethostname(),
        **machine_facts(),
    }


def pack(folder: Path) -> bytes:
    """A folder's files as an uncompressed tar archive, paths relative to the folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    """Write a `pack` archive's files into folder (only regular files and folders, inside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(folder, filter="data")
