"""The job's `device` on a machine without a GPU: the clear refusal of cuda, and a CPU path that
`device: cpu` leaves exactly as it was. The CUDA path itself needs a GPU and is not run here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from oneshot_common.errors import InputError
from oneshot_common.rng import Rng
from oneshot_common.sampling import sample_pairs, scan_dataset, write_pairs
from oneshot_torch.cli import main
from oneshot_torch.device import CPU, check_device, device_versions, synchronize
from safetensors.torch import load_file

from tests.python_impl.conftest import run_cli

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
REFUSAL = (
    "device: cuda requested but torch sees no CUDA device "
    "(torch.cuda.is_available() is False); expected device: cpu"
)
TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}


def pairs_of(root: Path, n: int) -> Path:
    path = root.parent / f"pairs{n}.tsv"
    write_pairs(path, sample_pairs(scan_dataset(str(root)), n, 0.5, Rng(3, "pairs")))
    return path


@NO_GPU
@pytest.mark.parametrize("task", ["forward", "sample"])
def test_cuda_without_a_gpu_exits_2_in_one_line_before_any_work(
    tiny_dataset: Any, job_writer: Any, task: str
) -> None:
    root, _ = tiny_dataset
    if task == "forward":
        inputs = {"pairs": str(pairs_of(root, 4)), "weights": None}
        job = job_writer(root, "forward", {}, model=TINY, inputs=inputs, device="cuda")
    else:
        job = job_writer(root, "sample", {"pairs": 10}, device="cuda")
    done = run_cli(job)
    assert done.returncode == 2
    assert done.stderr == f"error: {REFUSAL}\n", done.stderr
    result = json.loads((job.parent / "result.json").read_text())
    assert result["ok"] is False and result["error"] == REFUSAL
    assert sorted(p.name for p in job.parent.iterdir()) == ["job.json", "result.json"]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "end"]  # no phase: no work started


def test_an_unknown_device_is_rejected_by_name(tiny_dataset: Any, job_writer: Any) -> None:
    job = job_writer(tiny_dataset[0], "sample", {"pairs": 10}, device="gpu")
    done = run_cli(job)
    assert done.returncode == 2
    assert done.stderr == "error: device: got string 'gpu', expected one of cpu, cuda\n"


def test_check_device_is_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    check_device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=r"^device: cuda requested but torch sees no CUDA"):
        check_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device("cuda")


def test_the_cpu_device_adds_no_sync_and_no_versions() -> None:
    synchronize(CPU)  # must not touch torch.cuda (it would raise without a CUDA build or GPU)
    assert device_versions(CPU) == {}


def run_in_process(out: Path, task: str, root: Path, **extra: Any) -> dict[str, Any]:
    out.mkdir()
    job: dict[str, Any] = {
        "format_version": 1,
        "task": task,
        "seed": 5,
        "threads": 1,
        "out_dir": str(out),
        "dataset": {"root": str(root), "eval_root": None},
        "inputs": {"pairs": None, "weights": None},
        "model": TINY,
        "params": {},
        **extra,
    }
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    assert main(["run", str(out / "job.json")]) == 0, (out / "result.json").read_text()
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


@pytest.mark.parametrize(
    ("task", "params", "output"),
    [
        ("forward", {"batch": 3}, "outputs.safetensors"),
        ("step", {"steps": 2, "batch": 4, "save_gradients": True}, "grads.safetensors"),
        ("train", {"epochs": 2, "batch": 4}, "weights.safetensors"),
    ],
)
def test_device_cpu_gives_the_same_numbers_as_no_device(
    tmp_path: Path, tiny_dataset: Any, task: str, params: dict[str, Any], output: str
) -> None:
    root, _ = tiny_dataset
    inputs = {"pairs": str(pairs_of(root, 6)), "weights": None}
    plain = run_in_process(tmp_path / "plain", task, root, params=params, inputs=inputs)
    cpu = run_in_process(tmp_path / "cpu", task, root, params=params, inputs=inputs, device="cpu")
    assert cpu["versions"] == plain["versions"]
    for key in ("losses", "epoch_losses"):
        assert cpu["metrics"].get(key) == plain["metrics"].get(key)
    a, b = load_file(str(tmp_path / "plain" / output)), load_file(str(tmp_path / "cpu" / output))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
