"""The network tasks through `run JOB.json` (in-process): init, forward, step, train, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from oneshot_common.data import load_pairs
from oneshot_common.rng import Rng
from oneshot_common.sampling import read_pairs, sample_pairs, scan_dataset, write_pairs
from oneshot_torch.cli import main
from oneshot_torch.model import PRESETS, SiameseNet, init_weights, pair_loss
from oneshot_torch.nettasks import to_input
from oneshot_torch.weights import load_weights
from safetensors.torch import load_file, save_file

from harness.data.synthetic import write_synthetic

TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic training set (4 alphabets x 8 characters x 6 drawers) and an eval set."""
    base = tmp_path_factory.mktemp("synthetic")
    write_synthetic(base / "train", alphabets=4, characters=8, drawers=6, seed=0)
    write_synthetic(base / "eval", alphabets=2, characters=6, drawers=4, seed=1)
    return base / "train", base / "eval"


def run_job(
    tmp_path: Path, task: str, root: Path, params: dict[str, Any], **extra: Any
) -> tuple[int, dict[str, Any], Path]:
    """Write a job, run it in-process, return (exit code, result.json, out_dir)."""
    out = tmp_path / f"{task}-{len(list(tmp_path.glob(task + '-*')))}"
    out.mkdir()
    job: dict[str, Any] = {
        "format_version": 1,
        "task": task,
        "seed": 11,
        "threads": 1,
        "out_dir": str(out),
        "dataset": {"root": str(root), "eval_root": None},
        "inputs": {"pairs": None, "weights": None},
        "model": TINY,
        "params": params,
    }
    for key, value in extra.items():
        if key in ("pairs", "weights"):
            job["inputs"][key] = str(value)
        elif key == "eval_root":
            job["dataset"]["eval_root"] = str(value)
        else:
            job[key] = value
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    code = main(["run", str(out / "job.json")])
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    return code, result, out


def pair_file(tmp_path: Path, root: Path, n: int) -> Path:
    path = tmp_path / f"pairs{n}.tsv"
    write_pairs(path, sample_pairs(scan_dataset(root), n, 0.5, Rng(3, "pairs")))
    return path


def tiny_net(weights: Path) -> SiameseNet:
    net = SiameseNet(PRESETS["tiny"])
    load_weights(net, weights)
    return net


def test_init_writes_seeded_weights(tmp_path: Path, synthetic: tuple[Path, Path]) -> None:
    code, result, out = run_job(tmp_path, "init", synthetic[0], {"init": "paper"})
    assert code == 0 and result["metrics"]["parameters"] == 1769
    expected = SiameseNet(PRESETS["tiny"])
    init_weights(expected, 11, "paper")
    loaded = tiny_net(out / "weights.safetensors")
    for a, b in zip(expected.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)


def test_forward_writes_the_models_embeddings_and_logits(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    pairs = pair_file(tmp_path, root, 10)
    _, _, init_out = run_job(tmp_path, "init", root, {"init": "he"})
    weights = init_out / "weights.safetensors"
    code, result, out = run_job(
        tmp_path, "forward", root, {"batch": 4}, pairs=pairs, weights=weights
    )
    assert code == 0, result["error"]
    assert result["metrics"]["pairs"] == 10 and result["metrics"]["pairs_per_s"] > 0
    saved = load_file(str(out / "outputs.safetensors"))
    left, right, _ = load_pairs(str(root), read_pairs(pairs, root))
    with torch.no_grad():
        emb1, emb2, logits = tiny_net(weights)(to_input(left, 32), to_input(right, 32))
    torch.testing.assert_close(saved["emb1"], emb1)
    torch.testing.assert_close(saved["emb2"], emb2)
    torch.testing.assert_close(saved["logits"], logits)


def test_step_writes_losses_and_first_step_gradients(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    pairs = pair_file(tmp_path, root, 6)  # batch 4 wraps around the 6 pairs
    _, _, init_out = run_job(tmp_path, "init", root, {"init": "he"})
    weights = init_out / "weights.safetensors"
    params = {"steps": 3, "batch": 4, "save_gradients": True}
    optimizer = {"name": "sgd", "lr": 0.05}
    code, result, out = run_job(
        tmp_path, "step", root, params, pairs=pairs, weights=weights, optimizer=optimizer
    )
    assert code == 0, result["error"]
    losses = result["metrics"]["losses"]
    assert len(losses) == 3

    net = tiny_net(weights)
    left, right, labels = load_pairs(str(root), read_pairs(pairs, root))
    loss = pair_loss(
        net(to_input(left[:4], 32), to_input(right[:4], 32))[2], torch.tensor(labels[:4])
    )
    loss.backward()
    assert losses[0] == pytest.approx(loss.item(), rel=1e-5)
    grads = load_file(str(out / "grads.safetensors"))
    assert set(grads) == {"grad." + name for name, _ in net.named_parameters()}
    for name, param in net.named_parameters():
        assert param.grad is not None
        torch.testing.assert_close(grads["grad." + name], param.grad, rtol=1e-4, atol=1e-6)


def test_training_lowers_the_loss_and_beats_chance(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root, eval_root = synthetic
    params = {
        "epochs": 6,
        "batch": 16,
        "pairs": 512,
        "init": "he",
        "validation": {"ways": 5, "trials": 100},
    }
    code, result, out = run_job(
        tmp_path,
        "train",
        root,
        params,
        eval_root=eval_root,
        optimizer={"name": "adam", "lr": 0.003},
    )
    assert code == 0, result["error"]
    metrics = result["metrics"]
    assert metrics["epochs_run"] == 6 and metrics["steps"] == 6 * 32
    assert metrics["epoch_losses"][-1] < metrics["epoch_losses"][0] - 0.1
    assert metrics["best_val_accuracy"] > 0.3  # chance is 0.2 on 5-way trials
    tiny_net(out / "weights.safetensors")  # the best weights load


def test_nan_loss_stops_training_and_keeps_the_weights(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    _, _, init_out = run_job(tmp_path, "init", root, {})
    tensors = load_file(str(init_out / "weights.safetensors"))
    tensors["out.bias"] = torch.tensor([float("nan")])
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad))
    code, result, out = run_job(tmp_path, "train", root, {"epochs": 2, "pairs": 64}, weights=bad)
    assert code == 1
    assert result["ok"] is False and "loss is nan" in result["error"]
    assert (out / "weights.safetensors").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"optimizer": {"lr": 0}}, "optimizer.lr: 0.0 is out of range"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer.name"),
        ({"optimizer": {"layers": {"fc2": {"lr": 1}}}}, "optimizer.layers.fc2: unknown field"),
        ({"augment": {"probability": 2}}, "augment.probability: 2"),
        ({"model": {**TINY, "kernels": [5, 3, 2, 9]}}, "conv4 kernel 9"),
        ({"model": None}, "model: null"),
        ({"params": {"epochs": 0}}, "params.epochs: 0 is out of range"),
        ({"params": {"patience": 3}}, "dataset.eval_root: null"),
    ],
)
def test_rejects_bad_training_config_before_any_work(
    tmp_path: Path, synthetic: tuple[Path, Path], extra: dict[str, Any], message: str
) -> None:
    params = extra.pop("params", {"epochs": 1})
    code, result, out = run_job(tmp_path, "train", synthetic[0], params, **extra)
    assert code == 2
    assert message in result["error"]
    assert not (out / "weights.safetensors").exists()


def test_augmented_training_adds_distorted_passes(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    augment = {"enabled": True, "copies": 2}
    params = {"epochs": 1, "batch": 16, "pairs": 64, "init": "he"}
    code, result, _ = run_job(tmp_path, "train", synthetic[0], params, augment=augment)
    assert code == 0, result["error"]
    assert result["metrics"]["train_pairs"] == 3 * 64
    assert result["metrics"]["steps"] == 3 * 4


def test_rejects_validation_wider_than_every_eval_alphabet(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root, eval_root = synthetic
    params = {"epochs": 1, "pairs": 64, "validation": {"ways": 20, "trials": 10}}
    code, result, _ = run_job(tmp_path, "train", root, params, eval_root=eval_root)
    assert code == 2
    assert "no alphabet has 20 characters" in result["error"]


def test_forward_warm_up_calls_are_untimed_and_change_no_output(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    pairs = pair_file(tmp_path, root, 10)
    _, _, init_out = run_job(tmp_path, "init", root, {"init": "he"})
    weights = init_out / "weights.safetensors"
    outputs = {}
    for warmup in (0, 3):
        code, result, out = run_job(
            tmp_path,
            "forward",
            root,
            {"batch": 4, "warmup_batches": warmup},
            pairs=pairs,
            weights=weights,
        )
        assert code == 0, result["error"]
        metrics = result["metrics"]
        assert metrics["warmup_batches"] == warmup and metrics["first_batch_s"] > 0
        assert metrics["pairs_per_s"] == pytest.approx(10 / metrics["forward_s"])
        outputs[warmup] = load_file(str(out / "outputs.safetensors"))
    for name in ("emb1", "emb2", "logits"):
        assert torch.equal(outputs[0][name], outputs[3][name])


def test_step_and_train_leave_their_warm_up_steps_out_of_the_rate(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    pairs = pair_file(tmp_path, root, 8)
    code, result, _ = run_job(
        tmp_path, "step", root, {"steps": 4, "batch": 4, "warmup_steps": 2}, pairs=pairs
    )
    assert code == 0, result["error"]
    m = result["metrics"]
    assert m["timed_steps"] == 2 and m["first_batch_s"] > 0
    assert m["pairs_per_s"] == pytest.approx(4 / m["step_s"])
    # train: 32 pairs at batch 8 = 4 steps, the first 3 untimed: the rate covers 8 pairs.
    params = {"epochs": 1, "batch": 8, "pairs": 32, "init": "he", "warmup_steps": 3}
    code, result, _ = run_job(tmp_path, "train", root, params)
    assert code == 0, result["error"]
    m = result["metrics"]
    assert m["steps"] == 4 and m["train_pairs"] == 32 and m["first_batch_s"] > 0
    assert m["train_pairs_per_s"] * m["train_s"] == pytest.approx(8)
    # With no more steps than warmup_steps, every step is timed.
    params["warmup_steps"] = 4
    code, result, _ = run_job(tmp_path, "train", root, params)
    m = result["metrics"]
    assert m["train_pairs_per_s"] * m["train_s"] == pytest.approx(32)


def test_step_and_forward_count_their_aten_operator_calls_outside_the_timed_calls(
    tmp_path: Path, synthetic: tuple[Path, Path]
) -> None:
    root = synthetic[0]
    pairs = pair_file(tmp_path, root, 12)
    _, _, init_out = run_job(tmp_path, "init", root, {"init": "he"})
    weights = init_out / "weights.safetensors"
    optimizer = {"name": "sgd", "lr": 0.05, "momentum_start": 0.9, "momentum_epochs": 0}
    counts: dict[str, list[int]] = {"forward": [], "step": []}
    for batch in (2, 5):
        for task, params in (("forward", {"batch": batch}), ("step", {"steps": 1, "batch": batch})):
            code, result, out = run_job(
                tmp_path, task, root, params, pairs=pairs, weights=weights, optimizer=optimizer
            )
            assert code == 0, result["error"]
            ops = result["metrics"]["ops_per_call"]
            assert type(ops) is int and ops > 0
            counts[task].append(ops)
        # The counting step runs after the weights are written: they are one step's update.
        net = tiny_net(weights)
        left, right, labels = load_pairs(str(root), read_pairs(pairs, root))
        loss = pair_loss(
            net(to_input(left[:batch], 32), to_input(right[:batch], 32))[2],
            torch.tensor(labels[:batch]),
        )
        loss.backward()
        saved = load_file(str(out / "weights.safetensors"))
        for name, param in net.named_parameters():
            assert param.grad is not None
            update = param.grad + (2e-4 * param if name.endswith("weight") else 0)
            torch.testing.assert_close(saved[name], param.detach() - 0.05 * update)
    # Operators do not depend on the batch size; a step runs the forward's and more.
    assert counts["forward"][0] == counts["forward"][1]
    assert counts["step"][0] == counts["step"][1]
    assert counts["step"][0] > 2 * counts["forward"][0]
