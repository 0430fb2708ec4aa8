"""The output checks between implementations, on hand-made output files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from harness.analysis.checks import (
    RunOutputs,
    accuracy_check,
    augment_check,
    curves_check,
    forward_check,
    gradients_check,
    predictions_check,
    run_checks,
)
from tests.harness.fakerun import complete_results


def out(tmp_path: Path, name: str, metrics: dict[str, object] | None = None) -> RunOutputs:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    return RunOutputs(d, metrics or {}, {})


def test_forward_check_measures_relative_error(tmp_path: Path) -> None:
    a, b = out(tmp_path, "a"), out(tmp_path, "b")
    emb = np.linspace(-1, 1, 40, dtype=np.float32).reshape(4, 10)
    logits = np.array([2.0, -1.0, 0.5, 4.0], dtype=np.float32)
    save_file({"emb1": emb, "emb2": emb, "logits": logits}, str(a.dir / "outputs.safetensors"))
    shifted = logits.copy()
    shifted[3] += 4e-4  # 1e-4 of the largest logit
    save_file({"emb1": emb, "emb2": emb, "logits": shifted}, str(b.dir / "outputs.safetensors"))
    outcome = forward_check(a, b)
    assert outcome is not None
    value, detail, ok = outcome
    assert value == pytest.approx(1e-4, rel=1e-3) and ok is None and "logits rel" in detail


def test_gradients_check_names_the_worst_tensor(tmp_path: Path) -> None:
    a, b = out(tmp_path, "a"), out(tmp_path, "b")
    g = {"grad.conv1.weight": np.ones((2, 2), np.float32), "grad.out.bias": np.ones(1, np.float32)}
    save_file(g, str(a.dir / "grads.safetensors"))
    save_file(
        {**g, "grad.out.bias": np.array([1.01], np.float32)}, str(b.dir / "grads.safetensors")
    )
    outcome = gradients_check(a, b)
    assert outcome is not None and outcome[0] == pytest.approx(0.01, rel=1e-3)
    assert "worst grad.out.bias" in outcome[1]


def test_gradients_check_skips_runs_without_gradients(tmp_path: Path) -> None:
    assert gradients_check(out(tmp_path, "a"), out(tmp_path, "b")) is None


def test_curves_check_per_step(tmp_path: Path) -> None:
    a = out(tmp_path, "a", {"losses": [0.7, 0.6, 0.5]})
    b = out(tmp_path, "b", {"losses": [0.7, 0.6, 0.501]})
    outcome = curves_check(a, b)
    assert (
        outcome is not None and outcome[0] == pytest.approx(0.002) and "worst step 2" in outcome[1]
    )


def test_augment_check_counts_pixels(tmp_path: Path) -> None:
    a, b = out(tmp_path, "a"), out(tmp_path, "b")
    x = np.zeros((2, 1379), np.uint8)
    y = x.copy()
    y[0, 0] = 0b1000_0001  # two pixels differ
    save_file({"left": x, "right": x}, str(a.dir / "images.safetensors"))
    save_file({"left": y, "right": x}, str(b.dir / "images.safetensors"))
    outcome = augment_check(a, b)
    assert outcome is not None and outcome[0] == pytest.approx(2 / (4 * 11025))


def write_predictions(path: Path, predicted: list[str], correct: list[int]) -> None:
    rows = ["trial\tquery\tpredicted\tanswer\tcorrect"]
    rows += [
        f"{i}\tq{i}\t{p}\ta{i}\t{c}"
        for i, (p, c) in enumerate(zip(predicted, correct, strict=True))
    ]
    path.write_text("\n".join(rows) + "\n")


def test_predictions_and_paired_accuracy(tmp_path: Path) -> None:
    a, b = out(tmp_path, "a"), out(tmp_path, "b")
    write_predictions(a.dir / "predictions.tsv", ["x"] * 200, [1] * 100 + [0] * 100)
    write_predictions(b.dir / "predictions.tsv", ["x"] * 199 + ["y"], [1] * 100 + [0] * 100)
    outcome = predictions_check(a, b)
    assert outcome is not None and outcome[0] == pytest.approx(1 / 200)
    acc = accuracy_check(a, b)
    assert acc is not None and acc[0] == 0.0 and acc[2] is True


def test_accuracy_check_fails_on_a_real_difference(tmp_path: Path) -> None:
    a = out(tmp_path, "a", {"best_val_accuracy": 0.80})
    b = out(tmp_path, "b", {"best_val_accuracy": 0.60})
    acc = accuracy_check(a, b)
    assert acc is not None and acc[2] is False and "independent, 400 trials" in acc[1]


def test_run_checks_applies_configured_tolerances(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    results = {
        "measurements": [
            {
                "impl": impl,
                "task": "step",
                "task_index": 0,
                "params": {},
                "runs": [{"ok": True, "warmup": False, "dir": impl, "metrics": {"losses": losses}}],
            }
            for impl, losses in (("a", [1.0, 0.5]), ("b", [1.0, 0.5005]))
        ]
    }
    (check,) = run_checks(complete_results(results), tmp_path)
    assert check.name == "curves" and check.ok and check.tolerance == 1e-3
    (check,) = run_checks(complete_results(results), tmp_path, {"curves": 1e-4})
    assert not check.ok
