"""XLA's threads follow the job's `threads` (threads.py): the environment set before jax is
imported, the pool the CPU client actually starts, and what result.json records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oneshot_jax import threads

from .conftest import run_jax

TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}


def test_xla_flags_keep_other_flags_and_replace_the_managed_ones() -> None:
    existing = "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true"
    one = threads.xla_flags(1, existing).split()
    assert one == [
        "--xla_dump_to=/tmp/x",
        "--xla_cpu_multi_thread_eigen=false",
        "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    ]
    assert "--xla_cpu_multi_thread_eigen=true" in threads.xla_flags(2).split()


def test_configure_refuses_to_run_after_jax_is_imported() -> None:
    code = (
        "import jax, oneshot_jax.threads as t\n"
        "try:\n    t.configure(1)\nexcept RuntimeError as e:\n    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "refused"


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 2])
def test_the_cpu_client_starts_exactly_threads_eigen_threads(
    count: int, tiny_dataset: Any, job_writer: Callable[..., Path]
) -> None:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counts threads through /proc")
    job = job_writer(tiny_dataset[0], "init", {}, model=TINY, threads=count)
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "XLA_FLAGS")}
    done = subprocess.run(
        [sys.executable, "-m", "oneshot_jax", "run", str(job)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    versions = json.loads((job.parent / "result.json").read_text())["versions"]
    assert versions["pjrt_nproc"] == str(count)
    assert versions["xla_eigen_threads"] == str(count)
    assert versions["jax_devices"] == "1" and versions["jax_num_cpu_devices"] == "1"
    multi = "true" if count > 1 else "false"
    assert f"--xla_cpu_multi_thread_eigen={multi}" in versions["xla_flags"]
    assert versions["jax"] == versions["jaxlib"] == "0.10.2"


@pytest.mark.slow
def test_a_one_thread_step_keeps_to_one_core(
    tiny_dataset: Any, job_writer: Callable[..., Path], tmp_path: Path
) -> None:
    """CPU seconds over wall seconds of a whole 1-thread run, compilation included: about 1
    (XLA's compiler and Python's start-up are single-threaded too), never 2."""
    import resource

    root = tiny_dataset[0]
    pairs = tmp_path / "pairs.tsv"
    sample = job_writer(root, "sample", {"pairs": 64})
    assert run_jax(sample).returncode == 0
    (sample.parent / "pairs.tsv").rename(pairs)
    small = {"filters": [16, 32, 32, 64], "kernels": [5, 5, 3, 3], "embedding": 256, "input": 52}
    job = job_writer(
        root, "step", {"steps": 20, "batch": 32}, model=small, threads=1,
        inputs={"pairs": str(pairs), "weights": None},
    )  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    import time

    began = time.perf_counter()
    done = run_jax(job)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu / wall < 1.3, f"{cpu:.2f} CPU s in {wall:.2f} s"
