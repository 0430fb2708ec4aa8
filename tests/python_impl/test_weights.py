"""The weights interchange file: round trip and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from oneshot_common.errors import InputError
from oneshot_torch.model import PRESETS, SiameseNet, init_paper
from oneshot_torch.weights import load_weights, save_weights, state_tensors
from safetensors.torch import save_file

TINY = PRESETS["tiny"]


def tiny_net(seed: int) -> SiameseNet:
    net = SiameseNet(TINY)
    init_paper(net, seed)
    return net


def test_weights_round_trip_exactly(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(tiny_net(1), path)
    loaded = tiny_net(2)
    load_weights(loaded, path)
    for (name, a), b in zip(tiny_net(1).named_parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_file_holds_interchange_names_in_float32(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(tiny_net(1), path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        names = set(handle.keys())
        assert handle.get_tensor("fc1.weight").dtype == torch.float32
    assert names == {
        f"{layer}.{kind}"
        for layer in ("conv1", "conv2", "conv3", "conv4", "fc1", "out")
        for kind in ("weight", "bias")
    }


def _write(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    save_file(tensors, str(path))
    return path


def test_rejects_a_missing_tensor_naming_it(tmp_path: Path) -> None:
    tensors = state_tensors(tiny_net(1))
    del tensors["conv3.bias"]
    path = _write(tmp_path / "w.safetensors", tensors)
    with pytest.raises(InputError, match=r"tensor conv3\.bias is missing, expected shape \[8\]"):
        load_weights(tiny_net(1), path)


def test_rejects_an_extra_tensor_naming_it(tmp_path: Path) -> None:
    tensors = state_tensors(tiny_net(1))
    tensors["fc2.weight"] = torch.zeros(2, 2)
    path = _write(tmp_path / "w.safetensors", tensors)
    with pytest.raises(InputError, match=r"unexpected tensor fc2\.weight \(shape \[2, 2\]\)"):
        load_weights(tiny_net(1), path)


def test_rejects_a_misshaped_tensor_with_both_shapes(tmp_path: Path) -> None:
    tensors = state_tensors(tiny_net(1))
    tensors["fc1.weight"] = torch.zeros(32, 17)
    path = _write(tmp_path / "w.safetensors", tensors)
    with pytest.raises(
        InputError, match=r"tensor fc1\.weight has shape \[32, 17\], expected \[32, 16\]"
    ):
        load_weights(tiny_net(1), path)


def test_rejects_a_tensor_of_another_dtype(tmp_path: Path) -> None:
    tensors = state_tensors(tiny_net(1))
    tensors["out.bias"] = tensors["out.bias"].double()
    path = _write(tmp_path / "w.safetensors", tensors)
    with pytest.raises(InputError, match=r"out\.bias has dtype float64, expected float32"):
        load_weights(tiny_net(1), path)


def test_rejects_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(tiny_net(1), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_weights(tiny_net(1), path)


def test_rejects_a_pickle_file_without_unpickling_it(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(tiny_net(1).state_dict(), path)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_weights(tiny_net(1), path)


def test_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_weights(tiny_net(1), tmp_path / "absent.safetensors")
