"""python-jax's weights file: the same safetensors as python-torch's, read and written through
numpy, checked against the shape with python-torch's one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from oneshot_common.errors import InputError
from oneshot_common.shape import PRESETS, tensor_shapes
from oneshot_jax import model
from oneshot_jax.weights import read_weights, save_tensors
from oneshot_torch.model import SiameseNet, init_paper
from oneshot_torch.weights import load_weights, save_weights, state_tensors
from safetensors.numpy import save_file

TINY = PRESETS["tiny"]


def test_weights_round_trip_with_python_torch(tmp_path: Path) -> None:
    net = SiameseNet(TINY)
    init_paper(net, 5)
    save_weights(net, tmp_path / "torch.safetensors")
    tensors = read_weights(tmp_path / "torch.safetensors", TINY)
    for key, value in state_tensors(net).items():
        np.testing.assert_array_equal(tensors[key], value.numpy())
    internal = model.to_internal(tensors)
    save_tensors(model.to_interchange(internal), tmp_path / "jax.safetensors")
    again = SiameseNet(TINY)
    load_weights(again, tmp_path / "jax.safetensors")
    for (key, p), q in zip(net.named_parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q), key


def torch_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_weights(SiameseNet(TINY), path)
    return str(caught.value)


def jax_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_weights(path, TINY)
    return str(caught.value)


def tensors_with(**changes: object) -> dict[str, np.ndarray]:
    tensors = {k: np.full(v, 0.01, np.float32) for k, v in tensor_shapes(TINY).items()}
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value  # type: ignore[assignment]
    return tensors


@pytest.mark.parametrize(
    "changes",
    [
        {"conv2__bias": None},
        {"extra__weight": np.zeros(3, np.float32)},
        {"fc1__weight": np.zeros((32, 17), np.float32)},
        {"out__bias": np.zeros(1, np.float64)},
        {"conv1__weight": np.zeros((4, 1, 5, 5), np.int64)},
    ],
    ids=["missing", "extra", "shape", "float64", "int64"],
)
def test_bad_tensors_get_python_torchs_error_line(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    path = tmp_path / "w.safetensors"
    save_file(tensors_with(**changes), str(path))
    assert jax_error(path) == torch_error(path)


def test_truncated_and_missing_files_are_one_line_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(tensors_with(), str(path))
    path.write_bytes(path.read_bytes()[:100])
    message = jax_error(path)
    assert message.startswith(f"{path}: not a readable safetensors file") and "\n" not in message
    assert jax_error(tmp_path / "none.safetensors") == torch_error(tmp_path / "none.safetensors")
