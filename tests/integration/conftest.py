"""Fixtures that build and run the real implementations (no fakes here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def rust_bin() -> Path:
    """The rust-native release binary, built once per session as the harness builds it."""
    return build_rust("rust-native")


def rust_ids() -> list[str]:
    """The ids of every Rust implementation (rust-native, rust-tch, rust-burn, rust-candle)."""
    from harness.process.impls import discover

    return [impl.id for impl in discover(REPO / "impls").values() if impl.language == "rust"]


def build_rust(impl_id: str) -> Path:
    """Build a Rust implementation with its manifest's own build command; its binary."""
    from harness.process.impls import discover

    impl = discover(REPO / "impls")[impl_id]
    assert impl.build is not None, f"{impl_id}: its manifest has no build command"
    subprocess.run([impl.expand(a) for a in impl.build], cwd=impl.folder, check=True)
    return (impl.folder / impl.run[0]).resolve()


def write_job(out: Path, task: str, root: Path, params: dict[str, Any], **extra: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    job = {
        "format_version": 1,
        "task": task,
        "seed": extra.pop("seed", 0),
        "threads": extra.pop("threads", 2),
        "out_dir": str(out),
        "dataset": {"root": str(root), "eval_root": None},
        "inputs": {"pairs": extra.pop("pairs", None), "weights": extra.pop("weights", None)},
        "model": None,
        "params": params,
    }
    job.update(extra)
    path = out / "job.json"
    path.write_text(json.dumps(job))
    return path


def run_python(job: Path, package: str = "oneshot_torch") -> subprocess.CompletedProcess[str]:
    """A Python implementation (`oneshot_torch`, `oneshot_jax`) on a job, output captured."""
    return subprocess.run(
        [sys.executable, "-m", package, "run", str(job)],
        capture_output=True,
        text=True,
        check=False,
    )


def run_rust(binary: Path, job: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "run", str(job)], capture_output=True, text=True, check=False
    )
