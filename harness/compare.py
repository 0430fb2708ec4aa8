"""Discrepancy checks between implementations, each a figure, a tolerance and a verdict.

Every check compares the outputs of the first measured run of each implementation with those of
the baseline (the first implementation of the config):
- `sampling`: pair files byte-identical (figure: differing lines);
- `pixels`: decoded images identical (figure: differing images).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CheckFn = Callable[[Path, Path], tuple[float, str]]


def first_outputs(measurement: dict[str, Any], run_dir: Path) -> Path | None:
    for run in measurement["runs"]:
        if run["ok"] and not run["warmup"]:
            return run_dir / str(run["dir"])
    return None


def sampling_check(base: Path, other: Path) -> tuple[float, str]:
    a = (base / "pairs.tsv").read_bytes().splitlines()
    b = (other / "pairs.tsv").read_bytes().splitlines()
    differing = sum(1 for x, y in zip(a, b, strict=False) if x != y) + abs(len(a) - len(b))
    return float(differing), f"{differing} of {max(len(a), len(b))} lines differ"


def pixels_check(base: Path, other: Path) -> tuple[float, str]:
    from safetensors.numpy import load_file

    a = load_file(str(base / "images.safetensors"))
    b = load_file(str(other / "images.safetensors"))
    if sorted(a) != sorted(b):
        return float("inf"), f"tensor names differ: {sorted(a)} vs {sorted(b)}"
    differing = 0
    images = 0
    for name in sorted(a):
        x, y = a[name], b[name]
        if x.shape != y.shape:
            return float("inf"), f"{name}: shapes differ: {x.shape} vs {y.shape}"
        if x.ndim == 2:  # [N, 1379] bit-packed images
            differing += int(np.any(x != y, axis=1).sum())
            images += x.shape[0]
        else:
            differing += int(np.count_nonzero(x != y))
    return float(differing), f"{differing} of {images} images differ"


CHECKS: dict[str, tuple[str, CheckFn]] = {
    "sample": ("sampling", sampling_check),
    "load": ("pixels", pixels_check),
}


def run_checks(results: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    by_task: dict[int, list[dict[str, Any]]] = {}
    for m in results["measurements"]:
        by_task.setdefault(m["task_index"], []).append(m)
    for index, measurements in sorted(by_task.items()):
        task = measurements[0]["task"]
        if task not in CHECKS or len(measurements) < 2:
            continue
        name, fn = CHECKS[task]
        base = measurements[0]
        base_dir = first_outputs(base, run_dir)
        for other in measurements[1:]:
            check: dict[str, Any] = {
                "name": name,
                "task_index": index,
                "impls": [base["impl"], other["impl"]],
                "value": None,
                "tolerance": 0.0,
                "ok": False,
                "detail": "",
            }
            other_dir = first_outputs(other, run_dir)
            if base_dir is None or other_dir is None:
                check["detail"] = "not compared: an implementation has no successful run"
            else:
                try:
                    value, detail = fn(base_dir, other_dir)
                except (OSError, ValueError) as e:
                    value, detail = float("inf"), f"outputs unreadable: {e}"
                check["value"] = value if value != float("inf") else None
                check["ok"] = value <= check["tolerance"]
                check["detail"] = detail
            checks.append(check)
    return checks
