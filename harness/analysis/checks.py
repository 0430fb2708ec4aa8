"""Discrepancy checks between implementations, each a figure, a tolerance and a verdict.

Every check compares the outputs of the first measured run of each implementation with those of
the baseline (the first implementation of the config), which got identical inputs (the pair
files and initial weights the harness prepared):

| check | task | figure | default tolerance |
| --- | --- | --- | --- |
| `sampling` | sample | differing lines of the pair files | 0 |
| `pixels` | load | differing decoded images | 0 |
| `augment` | augment | share of differing pixels | 0.001 |
| `forward` | forward | worst relative error of emb1, emb2, logits | 1e-5 |
| `gradients` | step | worst per-tensor relative error of step 0's gradients | 1e-4 |
| `curves` | step | worst per-step relative error of the losses | 1e-3 |
| `predictions` | evaluate | share of trials on which the two disagree | 0.005 |
| `accuracy` | evaluate, train | accuracy difference; ok when its 95% interval holds 0 | - |

Relative errors are norm-wise: max|a - b| / max|a| per tensor, so that values near zero do not
blow the figure up. Tolerances can be set per check in the config (`tolerances:`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.results import by_task, measured_runs

DEFAULT_TOLERANCES = {
    "sampling": 0.0,
    "pixels": 0.0,
    "augment": 1e-3,
    "forward": 1e-5,
    "gradients": 1e-4,
    "curves": 1e-3,
    "predictions": 5e-3,
}


@dataclass(frozen=True)
class RunOutputs:
    dir: Path
    metrics: Mapping[str, Any]
    params: Mapping[str, Any]


# A check returns (figure, detail, ok or None to compare the figure with the tolerance),
# or None when the runs have nothing to compare (e.g. no gradients were asked for).
Outcome = tuple[float, str, bool | None] | None
CheckFn = Callable[[RunOutputs, RunOutputs], Outcome]


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    scale = float(np.max(np.abs(a64))) if a64.size else 0.0
    diff = float(np.max(np.abs(a64 - b64))) if a64.size else 0.0
    return diff / scale if scale > 0 else diff


def sampling_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x = (a.dir / "pairs.tsv").read_bytes().splitlines()
    y = (b.dir / "pairs.tsv").read_bytes().splitlines()
    differing = sum(1 for p, q in zip(x, y, strict=False) if p != q) + abs(len(x) - len(y))
    return float(differing), f"{differing} of {max(len(x), len(y))} lines differ", None


def pixels_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x, y = _tensors(a.dir / "images.safetensors"), _tensors(b.dir / "images.safetensors")
    if sorted(x) != sorted(y):
        return math.inf, f"tensor names differ: {sorted(x)} vs {sorted(y)}", False
    differing = images = 0
    for name in sorted(x):
        if x[name].shape != y[name].shape:
            return math.inf, f"{name}: shapes differ: {x[name].shape} vs {y[name].shape}", False
        if x[name].ndim == 2:  # [N, 1379] bit-packed images
            differing += int(np.any(x[name] != y[name], axis=1).sum())
            images += x[name].shape[0]
        else:
            differing += int(np.count_nonzero(x[name] != y[name]))
    return float(differing), f"{differing} of {images} images differ", None


def augment_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x, y = _tensors(a.dir / "images.safetensors"), _tensors(b.dir / "images.safetensors")
    differing = total = 0
    for name in ("left", "right"):
        if x[name].shape != y[name].shape:
            return math.inf, f"{name}: shapes differ: {x[name].shape} vs {y[name].shape}", False
        bits = np.unpackbits(x[name] ^ y[name], axis=1)[:, : 105 * 105]
        differing += int(bits.sum())
        total += bits.size
    share = differing / total if total else 0.0
    return share, f"{differing} of {total} pixels differ ({100 * share:.4f}%)", None


def forward_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x, y = _tensors(a.dir / "outputs.safetensors"), _tensors(b.dir / "outputs.safetensors")
    parts, worst = [], 0.0
    for name in ("emb1", "emb2", "logits"):
        if x[name].shape != y[name].shape:
            return math.inf, f"{name}: shapes differ: {x[name].shape} vs {y[name].shape}", False
        err = rel_error(x[name], y[name])
        absolute = float(np.max(np.abs(x[name].astype(np.float64) - y[name])))
        parts.append(f"{name} rel {err:.2e} abs {absolute:.2e}")
        worst = max(worst, err)
    return worst, "; ".join(parts), None


def gradients_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    pa, pb = a.dir / "grads.safetensors", b.dir / "grads.safetensors"
    if not pa.is_file() and not pb.is_file():
        return None
    x, y = _tensors(pa), _tensors(pb)
    if sorted(x) != sorted(y):
        return math.inf, f"tensor names differ: {sorted(x)} vs {sorted(y)}", False
    errors = {name: rel_error(x[name], y[name]) for name in sorted(x)}
    worst = max(errors, key=lambda n: errors[n])
    detail = ", ".join(f"{n.removeprefix('grad.')} {e:.1e}" for n, e in errors.items())
    return errors[worst], f"worst {worst} {errors[worst]:.2e}; {detail}", None


def curves_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x, y = a.metrics.get("losses"), b.metrics.get("losses")
    if not isinstance(x, list) or not isinstance(y, list):
        return None
    if len(x) != len(y):
        return math.inf, f"{len(x)} vs {len(y)} losses", False
    errors = [abs(p - q) / max(abs(p), 1e-12) for p, q in zip(x, y, strict=True)]
    k = int(np.argmax(errors)) if errors else 0
    worst = errors[k] if errors else 0.0
    return worst, f"{len(x)} steps; worst step {k}: {x[k]:.6g} vs {y[k]:.6g}", None


def _predictions(path: Path) -> list[tuple[str, str]]:
    rows = (r.split("\t") for r in path.read_text(encoding="utf-8").splitlines()[1:] if r)
    return [(fields[2], fields[4]) for fields in rows]


def predictions_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    x, y = _predictions(a.dir / "predictions.tsv"), _predictions(b.dir / "predictions.tsv")
    if len(x) != len(y):
        return math.inf, f"{len(x)} vs {len(y)} trials", False
    disagree = sum(1 for p, q in zip(x, y, strict=True) if p[0] != q[0])
    share = disagree / len(x) if x else 0.0
    return share, f"{disagree} of {len(x)} trials predicted differently", None


def accuracy_check(a: RunOutputs, b: RunOutputs) -> Outcome:
    """Difference of two accuracies with a 95% interval: paired over the same trials when both
    wrote predictions, else as two independent binomial proportions."""
    pa, pb = a.dir / "predictions.tsv", b.dir / "predictions.tsv"
    if pa.is_file() and pb.is_file():
        ca = np.array([int(c) for _, c in _predictions(pa)], dtype=np.float64)
        cb = np.array([int(c) for _, c in _predictions(pb)], dtype=np.float64)
        if len(ca) != len(cb) or not len(ca):
            return None
        d = ca - cb
        diff, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        acc_a, acc_b, how = float(ca.mean()), float(cb.mean()), f"paired over {len(d)} trials"
    else:
        key = "best_val_accuracy" if "best_val_accuracy" in a.metrics else "accuracy"
        if key not in a.metrics or key not in b.metrics:
            return None
        acc_a, acc_b = float(a.metrics[key]), float(b.metrics[key])
        n = int(a.params.get("validation", {}).get("trials", 400))
        diff = acc_a - acc_b
        se = math.sqrt(max(acc_a * (1 - acc_a) + acc_b * (1 - acc_b), 1e-12) / n)
        how = f"independent, {n} trials each"
    lo, hi = diff - 1.96 * se, diff + 1.96 * se
    detail = f"{acc_a:.4f} vs {acc_b:.4f}; difference {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] ({how})"
    return diff, detail, lo <= 0.0 <= hi


SHARED_INPUT_CHECKS = ("forward", "gradients", "curves", "predictions")

CHECKS: dict[str, list[tuple[str, CheckFn]]] = {
    "sample": [("sampling", sampling_check)],
    "load": [("pixels", pixels_check)],
    "augment": [("augment", augment_check)],
    "forward": [("forward", forward_check)],
    "step": [("gradients", gradients_check), ("curves", curves_check)],
    "evaluate": [("predictions", predictions_check), ("accuracy", accuracy_check)],
    "train": [("accuracy", accuracy_check)],
}


def first_outputs(measurement: dict[str, Any], run_dir: Path) -> RunOutputs | None:
    runs = measured_runs(measurement)
    if not runs:
        return None
    run = runs[0]
    return RunOutputs(run_dir / str(run["dir"]), run["metrics"], measurement["params"])


def run_checks(
    results: dict[str, Any], run_dir: Path, tolerances: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    checks: list[dict[str, Any]] = []
    for index, measurements in by_task(results["measurements"]):
        task = measurements[0]["task"]
        if task not in CHECKS or len(measurements) < 2:
            continue
        base = measurements[0]
        base_out = first_outputs(base, run_dir)
        for other in measurements[1:]:
            other_out = first_outputs(other, run_dir)
            for name, fn in CHECKS[task]:
                if name in SHARED_INPUT_CHECKS and not base.get("shared_inputs", True):
                    continue  # each implementation ran on its own trained weights
                check: dict[str, Any] = {
                    "name": name,
                    "task_index": index,
                    "impls": [base["impl"], other["impl"]],
                    "value": None,
                    "tolerance": tol.get(name),
                    "ok": False,
                    "detail": "",
                }
                if base_out is None or other_out is None:
                    check["detail"] = "not compared: an implementation has no successful run"
                    checks.append(check)
                    continue
                try:
                    outcome = fn(base_out, other_out)
                except (OSError, ValueError, KeyError, IndexError) as e:
                    outcome = (math.inf, f"outputs unreadable: {type(e).__name__}: {e}", False)
                if outcome is None:
                    continue
                value, detail, ok = outcome
                check["value"] = value if math.isfinite(value) else None
                check["detail"] = detail
                check["ok"] = ok if ok is not None else value <= (check["tolerance"] or 0.0)
                checks.append(check)
    return checks
