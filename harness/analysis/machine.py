"""Machine and software facts recorded with every run (`machine` in results.json)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

from harness.process.protocol import REPO_ROOT

INTERESTING_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_bf16",
    "amx_tile",
)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


def cpu_info() -> tuple[str, list[str]]:
    model: str = platform.processor() or "unknown"
    flags: list[str] = []
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model in ("unknown", "", platform.processor()):
            model = value.strip()
        elif key.strip() == "flags":
            have = set(value.split())
            flags = [f for f in INTERESTING_FLAGS if f in have]
            break
    return model, flags


def cpu_ids(text: str | None = None) -> dict[str, Any]:
    """The first CPU's vendor_id, cpu family and model number of /proc/cpuinfo (x86), None
    where it does not say: with the flags, what the archive's machine id is made of."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if not key.strip() and found:
            break  # the end of the first processor's block
        found.setdefault(key.strip(), value.strip())
    family, model = found.get("cpu family", ""), found.get("model", "")
    return {
        "cpu_vendor": found.get("vendor_id") or None,
        "cpu_family": int(family) if family.isdigit() else None,
        "cpu_model_number": int(model) if model.isdigit() else None,
    }


def _output(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    commit = _output(["git", "rev-parse", "HEAD"], repo)
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def machine_facts() -> dict[str, Any]:
    model, flags = cpu_info()
    rustc = _output(["rustc", "--version"])
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        **cpu_ids(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "rustc": rustc,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "env": {var: os.environ.get(var) for var in THREAD_VARS},
        **git_state(),
    }
