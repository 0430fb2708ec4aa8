"""The float64 referee: the numpy network against PyTorch in float64, and the verdicts it gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

from harness.analysis import reference64 as r
from harness.analysis.checks import FLOOR_FACTOR, judge_f64, run_checks
from tests.harness.fakerun import complete_results

TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}
# Odd sides: 41 -> 38, pool 19 -> 17, pool 8 (floor) -> 6, pool 3 -> 2.
ODD = {"filters": [3, 5, 6, 7], "kernels": [4, 3, 3, 2], "embedding": 9, "input": 41}


def random_weights(spec: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = r.Model.of(spec)
    w, c = {}, 1
    for i, (f, k) in enumerate(zip(model.filters, model.kernels, strict=True)):
        w[f"conv{i + 1}.weight"] = rng.normal(0, 0.3, (f, c, k, k)).astype(np.float32)
        w[f"conv{i + 1}.bias"] = rng.normal(0.1, 0.1, f).astype(np.float32)
        c = f
    flat = c * model.sides()[3] ** 2
    w["fc1.weight"] = rng.normal(0, 0.2, (model.embedding, flat)).astype(np.float32)
    w["fc1.bias"] = rng.normal(0, 0.1, model.embedding).astype(np.float32)
    w["out.weight"] = rng.normal(0, 1, (1, model.embedding)).astype(np.float32)
    w["out.bias"] = np.array([0.1], np.float32)
    return w


def torch64(
    w: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray, labels: np.ndarray
) -> tuple[dict[str, np.ndarray], float, dict[str, np.ndarray]]:
    """The same network in PyTorch float64: outputs, loss and gradients by autograd."""
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}

    def tower(x: torch.Tensor) -> torch.Tensor:
        for i in range(4):
            x = F.relu(F.conv2d(x, t[f"conv{i + 1}.weight"], t[f"conv{i + 1}.bias"]))
            if i < 3:
                x = F.max_pool2d(x, 2)
        return torch.sigmoid(F.linear(x.flatten(1), t["fc1.weight"], t["fc1.bias"]))

    e1, e2 = tower(torch.tensor(left)), tower(torch.tensor(right))
    z = F.linear((e1 - e2).abs(), t["out.weight"], t["out.bias"])[:, 0]
    loss = F.binary_cross_entropy_with_logits(z, torch.tensor(labels))
    loss.backward()
    outputs = {"emb1": e1, "emb2": e2, "logits": z}
    grads = {f"grad.{k}": v.grad.numpy() for k, v in t.items() if v.grad is not None}
    return {k: v.detach().numpy() for k, v in outputs.items()}, float(loss.detach()), grads


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


@pytest.mark.parametrize("spec", [TINY, ODD], ids=["tiny", "odd-sides"])
def test_forward_and_gradients_match_torch_float64(spec: dict[str, Any]) -> None:
    rng = np.random.default_rng(1)
    images = (rng.random((12, 105, 105)) < 0.2).astype(np.float64)
    x = r.network_input(images, spec["input"])
    left, right = x[:6], x[6:]
    labels = np.array([1, 0, 1, 0, 0, 1], np.float64)
    w = random_weights(spec)
    expected, loss, grads = torch64(w, left, right, labels)

    got = r.forward(w, left, right)
    for name in ("emb1", "emb2", "logits"):
        assert got[name].dtype == np.float64
        assert rel(expected[name], got[name]) < 1e-12, name
    ref_loss, ref_grads = r.loss_and_gradients(w, left, right, labels)
    assert ref_loss == pytest.approx(loss, rel=1e-12)
    assert sorted(ref_grads) == sorted(grads) and len(grads) == 12
    for name, g in grads.items():
        assert ref_grads[name].shape == g.shape
        assert rel(g, ref_grads[name]) < 1e-10, name

    # The float32 run of the same code is close to float64, but not equal: a real floor.
    g32 = r.loss_and_gradients(w, left, right, labels, np.float32)[1]
    floor = max(rel(grads[n], g32[n].astype(np.float64)) for n in grads)
    assert 0 < floor < 1e-4


def test_a_wrong_gradient_is_seen() -> None:
    """The comparison above can fail: one weight nudged changes the gradients beyond 1e-10."""
    rng = np.random.default_rng(2)
    x = r.network_input((rng.random((8, 105, 105)) < 0.2).astype(np.float64), 32)
    labels = np.array([1, 0, 1, 0], np.float64)
    w = random_weights(TINY)
    _, _, grads = torch64(w, x[:4], x[4:], labels)
    nudged = {**w, "conv2.weight": w["conv2.weight"] * np.float32(1.001)}
    ref = r.loss_and_gradients(nudged, x[:4], x[4:], labels)[1]
    assert rel(grads["grad.conv1.weight"], ref["grad.conv1.weight"]) > 1e-6


@pytest.mark.parametrize("side", [32, 41, 64, 100, 105])
def test_input_pooling_is_torch_adaptive_avg_pool(side: int) -> None:
    images = (np.random.default_rng(side).random((3, 105, 105)) < 0.3).astype(np.float64)
    expected = F.adaptive_avg_pool2d(torch.tensor(images)[:, None], side).numpy()
    assert np.abs(r.network_input(images, side) - expected).max() < 1e-15


def test_judging_synthetic_errors() -> None:
    # Apart beyond the tolerance, each within it of float64: a pass with a note.
    v = judge_f64(1.2e-5, 1e-5, {"a": 6e-6, "b": 6e-6}, 1e-7)
    assert v.ok and "apart by 1.20e-05" in v.note and v.limit == 1e-5
    # One drifts: a failure that names it, not the other.
    v = judge_f64(3e-4, 1e-5, {"a": 2e-6, "b": 3e-4}, 1e-7)
    assert not v.ok and "b drifts from float64" in v.note and "a drifts" not in v.note
    # Both far from float64 and agreeing with each other still fails, naming both.
    v = judge_f64(1e-6, 1e-5, {"a": 1e-3, "b": 1e-3}, 1e-7)
    assert not v.ok and "a and b drift" in v.note
    # Ill-conditioned: float32 rounding alone is beyond the tolerance; both as far as it.
    v = judge_f64(4e-5, 1e-5, {"a": 3.6e-5, "b": 2.1e-5}, 2.5e-5)
    assert v.ok and "ill-conditioned" in v.note and v.limit == pytest.approx(FLOOR_FACTOR * 2.5e-5)
    # ... but not without bound.
    v = judge_f64(4e-4, 1e-5, {"a": 3.6e-5, "b": 4e-4}, 2.5e-5)
    assert not v.ok and "b drifts" in v.note
    v = judge_f64(float("nan"), 1e-5, {"a": 1e-7, "b": float("nan")}, 1e-7)
    assert not v.ok and "b drifts" in v.note


# --- through run_checks, on real Omniglot images --------------------------------------------


def forward_run(
    tmp_path: Path, root: Path, pairs: list[tuple[str, str, int]], spec: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A forward task's results with two implementations' run folders, the baseline's job.json
    naming the shared weights and pair file; returns (results, float64 outputs of every pair)."""
    weights = random_weights(spec, seed=3)
    save_file(weights, str(tmp_path / "weights.safetensors"))
    lines = ["left\tright\tlabel"] + [f"{a}\t{b}\t{y}" for a, b, y in pairs]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    left, right, _ = r.load_batch(root, pairs, spec["input"])
    exact = r.forward(weights, left, right)
    measurements = []
    for impl in ("a", "b"):
        d = tmp_path / impl
        d.mkdir()
        job = {
            "task": "forward",
            "dataset": {"root": str(root)},
            "inputs": {
                "pairs": str(tmp_path / "pairs.tsv"),
                "weights": str(tmp_path / "weights.safetensors"),
            },
            "model": spec,
            "params": {"batch": 4},
        }
        (d / "job.json").write_text(json.dumps(job))
        run = {"ok": True, "warmup": False, "dir": impl, "metrics": {}}
        measurements.append(
            {"impl": impl, "task": "forward", "task_index": 0, "params": {}, "runs": [run]}
        )
    return {"measurements": measurements}, exact


def save_outputs(path: Path, outputs: dict[str, np.ndarray]) -> None:
    save_file({k: v.astype(np.float32) for k, v in outputs.items()}, str(path))


@pytest.fixture
def real_pairs(omniglot_small1: Path) -> list[tuple[str, str, int]]:
    images = sorted(
        p.relative_to(omniglot_small1).as_posix() for p in omniglot_small1.rglob("*.png")
    )
    return [(images[i], images[i + 1], i % 2) for i in range(0, 200, 20)]  # 10 pairs


def test_read_image_decodes_ink_as_one(omniglot_small1: Path) -> None:
    path = next(iter(sorted(omniglot_small1.rglob("*.png"))))
    pixels = r.read_image(path)
    ink = pixels.sum()
    assert pixels.shape == (105, 105) and set(np.unique(pixels)) == {0.0, 1.0}
    assert 0 < ink < 0.5 * 105 * 105  # strokes on a white page


def test_forward_check_names_the_implementation_that_drifts(
    tmp_path: Path, omniglot_small1: Path, real_pairs: list[tuple[str, str, int]]
) -> None:
    results, exact = forward_run(tmp_path, omniglot_small1, real_pairs, TINY)
    save_outputs(tmp_path / "a" / "outputs.safetensors", exact)
    scale = np.abs(exact["logits"]).max()
    drifted = {**exact, "logits": exact["logits"] + 1e-3 * scale * np.sign(exact["logits"])}
    save_outputs(tmp_path / "b" / "outputs.safetensors", drifted)
    (check,) = run_checks(complete_results(results), tmp_path)
    assert check.name == "forward" and not check.ok
    assert "b drifts from float64" in check.detail and "a drifts" not in check.detail
    assert f"the first {r.FORWARD_PAIRS} of 10 pairs" in check.detail
    assert check.f64_errors["a"] < 1e-6 < 5e-4 < check.f64_errors["b"]
    assert 0 < check.f32_floor < 1e-5 and check.f64_tolerance == 1e-5


def test_forward_check_passes_two_apart_but_each_close_to_float64(
    tmp_path: Path, omniglot_small1: Path, real_pairs: list[tuple[str, str, int]]
) -> None:
    results, exact = forward_run(tmp_path, omniglot_small1, real_pairs, TINY)
    step = 0.6e-5 * np.abs(exact["logits"]).max()
    save_outputs(
        tmp_path / "a" / "outputs.safetensors", {**exact, "logits": exact["logits"] + step}
    )
    save_outputs(
        tmp_path / "b" / "outputs.safetensors", {**exact, "logits": exact["logits"] - step}
    )
    (check,) = run_checks(complete_results(results), tmp_path)
    assert check.value > 1e-5 and check.ok, check.detail
    assert "apart by" in check.detail and "but each within" in check.detail
    assert set(check.f64_errors) == {"a", "b"}
    # The same pair without a reference (no shared weights): the pair's figure decides, a failure.
    for impl in ("a", "b"):
        job = json.loads((tmp_path / impl / "job.json").read_text())
        job["inputs"]["weights"] = None
        (tmp_path / impl / "job.json").write_text(json.dumps(job))
    (check,) = run_checks(complete_results(results), tmp_path)
    assert not check.ok and "float64 referee skipped: the job has no shared weights" in (
        check.detail
    )
    assert check.f64_errors is None


def test_gradients_referee_on_step_zero_and_its_cost_limit(
    tmp_path: Path,
    omniglot_small1: Path,
    real_pairs: list[tuple[str, str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results, _ = forward_run(tmp_path, omniglot_small1, real_pairs, TINY)
    for m in results["measurements"]:
        m["task"] = "step"
        job = json.loads((tmp_path / m["impl"] / "job.json").read_text())
        job["task"], job["params"] = "step", {"steps": 1, "batch": 12, "save_gradients": True}
        (tmp_path / m["impl"] / "job.json").write_text(json.dumps(job))
    weights = random_weights(TINY, seed=3)
    batch = [real_pairs[i % 10] for i in range(12)]  # wraps around the 10 pairs
    left, right, labels = r.load_batch(omniglot_small1, batch, 32)
    _, grads = r.loss_and_gradients(weights, left, right, labels)
    save_outputs(tmp_path / "a" / "grads.safetensors", grads)
    bad = {**grads, "grad.conv3.bias": grads["grad.conv3.bias"] * 1.01}
    save_outputs(tmp_path / "b" / "grads.safetensors", bad)
    check = next(
        c for c in run_checks(complete_results(results), tmp_path) if c.name == "gradients"
    )
    assert not check.ok and "b drifts" in check.detail, check.detail
    assert "step 0's batch of 12 pairs" in check.detail
    assert check.f64_errors["a"] < 1e-6 and check.f64_errors["b"] == pytest.approx(0.01, rel=1e-3)
    monkeypatch.setattr(r, "MAX_STEP_GFLOP", 1e-6)
    check = next(
        c for c in run_checks(complete_results(results), tmp_path) if c.name == "gradients"
    )
    assert "float64 referee skipped: a float64 step of 12 pairs" in check.detail
    assert check.f64_errors is None and not check.ok  # 1e-2 apart: beyond 1e-4
