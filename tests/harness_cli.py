"""`python -m harness ...` as a subprocess, for the tests that drive the real command line.

Every such test runs the harness the same way: this interpreter, `-m harness`, in the
repository root, with stdout and stderr captured and no exit-code check (the tests assert on
it). `run_harness` waits for it; `start_harness` returns the running process (to signal it).
`env` replaces the environment when given (None: this process's); `with_impls` is this
process's environment with the implementations taken from another folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from harness.process.impls import IMPLS_ENV

REPO = Path(__file__).resolve().parents[1]


def harness_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def run_harness(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """Run `python -m harness ARGS` to its end; its output captured (as str, or bytes)."""
    return subprocess.run(
        harness_command(*args),
        cwd=REPO,
        env=None if env is None else dict(env),
        capture_output=True,
        text=text,
        timeout=timeout,
        check=False,
    )


def start_harness(
    *args: str,
    env: Mapping[str, str] | None = None,
    text: bool = False,
    output: int | IO[Any] = subprocess.PIPE,
) -> subprocess.Popen[Any]:
    """Start `python -m harness ARGS`; stdout and stderr go to `output` (piped by default)."""
    return subprocess.Popen(
        harness_command(*args),
        cwd=REPO,
        env=None if env is None else dict(env),
        stdout=output,
        stderr=output,
        text=text,
    )


def with_impls(folder: Path) -> dict[str, str]:
    """This process's environment, the implementations read from `folder` (ONESHOT_BENCH_IMPLS)."""
    return {**os.environ, IMPLS_ENV: str(folder)}
