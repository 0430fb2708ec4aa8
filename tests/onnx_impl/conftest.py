"""Fixtures of the ONNX engines' tests: one tiny network with fixed weights, its ONNX export
made once by the real verb (`python -m oneshot_torch export-onnx`), a synthetic Omniglot-layout
data set (tests/python_impl's generator) with a pair file, and `run_onnx`, an engine's program
in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from oneshot_common.rng import Rng
from oneshot_common.sampling import sample_pairs, scan_dataset, write_pairs
from oneshot_common.shape import PRESETS

from tests.python_impl.conftest import job_writer, make_dataset

__all__ = ["ENGINES", "MODEL", "SHAPE", "Fixture", "job_writer", "run_export", "run_onnx"]

ENGINES = ("onnxruntime", "openvino")
# The tiny preset: a 32-pixel input, so the network input is pooled (adaptive average).
SHAPE = PRESETS["tiny"]
MODEL = {
    "filters": list(SHAPE.filters),
    "kernels": list(SHAPE.kernels),
    "embedding": SHAPE.embedding,
    "input": SHAPE.input,
}
# Five characters in each of two alphabets, four drawers each: 5-way Koch trials and episodes.
LAYOUT = {
    "Alpha": {f"character{c:02d}": 4 for c in range(1, 6)},
    "Beta": {f"character{c:02d}": 4 for c in range(1, 6)},
}


@dataclass(frozen=True)
class Fixture:
    data: Path  # the data set, also the evaluation root
    pairs: Path  # 10 pairs drawn from it
    weights: Path  # fixed He-initialised weights of MODEL (seed 5)
    onnx: Path  # their export


def run_export(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m oneshot_torch export-onnx ARGS` in a fresh process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "oneshot_torch", "export-onnx", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_onnx(
    engine: str, job: Path, *, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`python [FLAGS] -m oneshot_onnx --engine ENGINE run JOB` in a fresh process."""
    return subprocess.run(
        [sys.executable, *flags, "-m", "oneshot_onnx", "--engine", engine, "run", str(job)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def onnx_fixture(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """The data, pairs, weights and export every test of the folder shares (made once)."""
    import torch
    from oneshot_torch.model import SiameseNet, init_he
    from oneshot_torch.weights import save_weights

    root = tmp_path_factory.mktemp("onnx")
    data = root / "data"
    make_dataset(data, LAYOUT)
    pairs = root / "pairs.tsv"
    write_pairs(pairs, sample_pairs(scan_dataset(data), 10, 0.5, Rng(3, "pairs")))
    net = SiameseNet(SHAPE)
    init_he(net, 5)
    with torch.no_grad():  # distinct nonzero biases: the exporter drops zero ones, merges twins
        for index, (name, param) in enumerate(net.named_parameters()):
            if name.endswith("bias"):
                param.add_(0.01 * index + 0.05 * torch.arange(param.numel(), dtype=torch.float32))
    weights = root / "weights.safetensors"
    save_weights(net, weights)
    onnx = root / "model.onnx"
    done = run_export("--weights", str(weights), "--model", json.dumps(MODEL), "--out", str(onnx))
    assert done.returncode == 0, done.stderr
    return Fixture(data, pairs, weights, onnx)
