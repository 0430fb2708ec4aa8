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
| `curves` | step | worst per-step relative error of the losses (see below) | 1e-3 |
| `predictions` | evaluate | share of trials on which the two disagree | 0.005 |
| `accuracy` | evaluate, train | accuracy difference; ok when its 95% interval holds 0 | - |

`curves` is judged against the baseline's own spread: after the measured jobs the baseline
reruns each compared `step` task with another thread count (1, or 2 in a 1-thread run;
`results.reruns`), and the other implementation passes within `max(tolerance, FLOOR_FACTOR *
spread)`, so float32 chaos that the baseline shows against itself is not blamed on the other.

`accuracy` of models each implementation trained itself (a `train` task, `evaluate` with
`weights: trained`) compares the accuracies of all their runs as two samples (quality.py,
`trained_accuracy_check`): it fails only on a significant difference, and one training each is
a report line, not a verdict.

Relative errors are norm-wise: max|a - b| / max|a| per tensor, so that values near zero do not
blow the figure up. Tolerances can be set per check in the config (`tolerances:`).

`forward` and `gradients` are also refereed in float64 (analysis/reference64.py): the network is
recomputed from the same weights and pixels in float64 (the first `FORWARD_PAIRS` pairs; step
0's whole batch), and once more in numpy float32, whose distance from float64 is the float32
rounding floor of these inputs. Each implementation's error from float64 is judged against
`max(tolerance, FLOOR_FACTOR * floor)`: one beyond it fails the check, named; two that differ
from each other beyond the tolerance while both stay within it pass, with a note. Without a
reference (no shared weights, a step too costly, see `reference64.MAX_STEP_GFLOP`) the pair's
figure decides alone, and the detail says why the referee was skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import reference64
from harness.analysis.quality import trained_accuracy_check
from harness.process.tasks import TASKS
from harness.results import Check, Measurement, Results, by_task, measured_runs

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

# --- the float64 referee -------------------------------------------------------------------

# An implementation may be this many times as far from float64 as the numpy float32 computation
# of the same network before it counts as drifting (independent float32 summation orders differ
# by a small factor; a wrong computation by orders of magnitude).
FLOOR_FACTOR = 4.0
F64_CHECKS: dict[str, tuple[Callable[[Path], reference64.Reference], str]] = {
    "forward": (reference64.forward_reference, "outputs.safetensors"),
    "gradients": (reference64.gradients_reference, "grads.safetensors"),
}


def f64_error(reference: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> float:
    """Worst relative error over the reference's tensors (scaled by the reference) of outputs
    cut to the reference's leading length: the recomputed subset of pairs."""
    worst = 0.0
    for name, ref in reference.items():
        if name not in outputs:
            return math.inf
        got = outputs[name][: ref.shape[0]] if ref.ndim else outputs[name]
        if got.shape != ref.shape:
            return math.inf
        err = rel_error(ref, got)
        worst = err if not err <= worst else worst  # a NaN stays
    return worst


@dataclass(frozen=True)
class Verdict:
    ok: bool
    note: str
    limit: float


def judge_f64(
    pair_error: float, tolerance: float, errors: Mapping[str, float], floor: float
) -> Verdict:
    """The verdict of a check whose implementations were each compared with float64.

    `pair_error` is their figure against each other, `errors` each one's against float64 and
    `floor` the numpy float32 computation's. An implementation beyond `max(tolerance,
    FLOOR_FACTOR * floor)` of float64 fails the check, named; otherwise it passes, with a note
    when the two differ from each other beyond the tolerance."""
    limit = max(tolerance, FLOOR_FACTOR * floor)
    figures = ", ".join(f"{impl} {err:.2e}" for impl, err in errors.items())
    floor_text = f"float32 rounding alone (numpy float32) {floor:.2e}"
    drifting = [impl for impl, err in errors.items() if not err <= limit]
    if drifting:
        who = " and ".join(drifting)
        return Verdict(
            False,
            f"from float64: {figures}; {floor_text}; {who} "
            f"{'drift' if len(drifting) > 1 else 'drifts'} from float64 beyond {limit:.2e}",
            limit,
        )
    if not pair_error <= tolerance:
        why = (
            "the outputs are ill-conditioned at these weights (float32 rounding alone is beyond "
            "the tolerance), not wrong"
            if floor > tolerance
            else "each is as close to float64 as the tolerance asks"
        )
        return Verdict(
            True,
            f"apart by {pair_error:.2e} (beyond {tolerance:.0e}) but each within {limit:.2e} of "
            f"float64: {figures}; {floor_text}: {why}",
            limit,
        )
    return Verdict(True, f"from float64: {figures}; {floor_text}", limit)


def _referee(
    check: Check,
    reference: reference64.Reference | str,
    outputs: Mapping[str, RunOutputs],
    file: str,
) -> Check:
    """The check with the float64 figures and verdict, for two implementations it compared."""
    if isinstance(reference, str):
        return check.model_copy(
            update={"detail": f"{check.detail}; float64 referee skipped: {reference}"}
        )
    errors = {}
    for impl, out in outputs.items():
        try:
            errors[impl] = f64_error(reference.f64, _tensors(out.dir / file))
        except (OSError, ValueError, KeyError) as e:
            skipped = f"; float64 referee skipped: {impl}'s outputs unreadable: {e}"
            return check.model_copy(update={"detail": check.detail + skipped})
    floor = f64_error(reference.f64, reference.f32)
    pair = math.inf if check.value is None else float(check.value)
    verdict = judge_f64(pair, float(check.tolerance or 0.0), errors, floor)
    return check.model_copy(
        update={
            "ok": verdict.ok,
            "detail": f"{check.detail}; float64 on {reference.subset}: {verdict.note}",
            # JSON has no NaN or infinity: a non-finite error is in the detail only.
            "f64_errors": {k: v for k, v in errors.items() if math.isfinite(v)},
            "f64_tolerance": verdict.limit,
            "f32_floor": floor,
        }
    )


CHECK_FNS: dict[str, CheckFn] = {
    "sampling": sampling_check,
    "pixels": pixels_check,
    "augment": augment_check,
    "forward": forward_check,
    "gradients": gradients_check,
    "curves": curves_check,
    "predictions": predictions_check,
    "accuracy": accuracy_check,
}
# The checks of each task, in order: the names its TaskSpec lists (process/tasks.py).
CHECKS: dict[str, list[tuple[str, CheckFn]]] = {
    name: [(check, CHECK_FNS[check]) for check in spec.checks]
    for name, spec in TASKS.items()
    if spec.checks
}


def first_outputs(measurement: Measurement, run_dir: Path) -> RunOutputs | None:
    runs = measured_runs(measurement)
    if not runs:
        return None
    run = runs[0]
    return RunOutputs(run_dir / run.dir, run.metrics, measurement.params)


def _reference(
    make: Callable[[Path], reference64.Reference], job_dir: Path
) -> reference64.Reference | str:
    """The float64 reference of a baseline job, or why there is none."""
    try:
        return make(job_dir)
    except reference64.ReferenceUnavailable as e:
        return str(e)
    except (OSError, ValueError, KeyError, IndexError, MemoryError) as e:
        return f"{type(e).__name__}: {e}"


def _against_own_spread(
    check: Check,
    results: Results,
    index: int,
    base: Measurement,
    base_out: RunOutputs,
    run_dir: Path,
) -> Check:
    """Judge `curves` against the baseline's own spread: its losses rerun with another thread
    count (results.reruns, harness/run/job.py rerun_baseline) differ from its own by s; the
    other implementation passes within max(tolerance, FLOOR_FACTOR * s)."""
    reruns = results.reruns or []
    rerun = next((r for r in reruns if r.task_index == index and r.impl == base.impl), None)
    if rerun is None:
        return check
    if not rerun.ok:
        failed = f"; {base.impl}'s rerun failed, judged by the tolerance alone"
        return check.model_copy(update={"detail": check.detail + failed})
    outcome = curves_check(base_out, RunOutputs(run_dir / rerun.dir, rerun.metrics, base.params))
    if outcome is None:
        return check
    spread = outcome[0]
    limit = max(check.tolerance or 0.0, FLOOR_FACTOR * spread)
    return check.model_copy(
        update={
            "baseline_spread": spread if math.isfinite(spread) else None,
            "ok": check.value is not None and check.value <= limit,
            "detail": f"{check.detail}; {base.impl}'s own spread (rerun at {rerun.threads} "
            f"thread(s)) {spread:.2e}, limit max(tolerance, {FLOOR_FACTOR:g} x spread) = "
            f"{limit:.2e}",
        }
    )


def run_checks(
    results: Results, run_dir: Path, tolerances: Mapping[str, float] | None = None
) -> list[Check]:
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    checks: list[Check] = []
    references: dict[tuple[int, str], reference64.Reference | str] = {}
    for index, measurements in by_task(results.measurements):
        task = measurements[0].task
        if task not in CHECKS or len(measurements) < 2:
            continue
        base = measurements[0]
        base_out = first_outputs(base, run_dir)
        for other in measurements[1:]:
            other_out = first_outputs(other, run_dir)
            for name, fn in CHECKS[task]:
                if name in SHARED_INPUT_CHECKS and not base.shared_inputs:
                    continue  # each implementation ran on its own trained weights
                check = Check(
                    name=name,
                    task_index=index,
                    impls=[base.impl, other.impl],
                    value=None,
                    tolerance=tol.get(name),
                    ok=False,
                    detail="",
                )
                if base_out is None or other_out is None:
                    detail = "not compared: an implementation has no successful run"
                    checks.append(check.model_copy(update={"detail": detail}))
                    continue
                try:
                    if name == "accuracy" and (task == "train" or not base.shared_inputs):
                        outcome = trained_accuracy_check(base, other)  # each its own trainings
                    else:
                        outcome = fn(base_out, other_out)
                except (OSError, ValueError, KeyError, IndexError) as e:
                    outcome = (math.inf, f"outputs unreadable: {type(e).__name__}: {e}", False)
                if outcome is None:
                    continue
                value, detail, ok = outcome
                check = check.model_copy(
                    update={
                        "value": value if math.isfinite(value) else None,
                        "detail": detail,
                        "ok": ok if ok is not None else value <= (check.tolerance or 0.0),
                    }
                )
                if name == "curves" and ok is None:
                    check = _against_own_spread(check, results, index, base, base_out, run_dir)
                if name in F64_CHECKS and ok is None:
                    make, file = F64_CHECKS[name]
                    if (index, name) not in references:
                        references[(index, name)] = _reference(make, base_out.dir)
                    impls = {base.impl: base_out, other.impl: other_out}
                    check = _referee(check, references[(index, name)], impls, file)
                checks.append(check)
    return checks
