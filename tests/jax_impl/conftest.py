"""Fixtures of python-jax's tests: the tiny data sets and job files of tests/python_impl, and
`run_jax`, the program in a fresh process (where XLA's threads are set from the job)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.python_impl.conftest import job_writer, make_dataset, tiny_dataset, write_png

__all__ = ["job_writer", "make_dataset", "run_jax", "tiny_dataset", "write_png"]


def run_jax(job: Path, *, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """`python -m oneshot_jax run JOB` in a fresh process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "oneshot_jax", "run", str(job)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
