"""The weights interchange file: safetensors, float32, PyTorch layouts (docs/protocol.md).

Both implementations read and write exactly this: tensors `conv1.weight` [F1, 1, K1, K1],
`conv1.bias` [F1], ... `conv4.*`, `fc1.weight` [E, flat], `fc1.bias` [E], `out.weight` [1, E],
`out.bias` [1]. `load_weights` checks every name, dtype and shape against the job's network
shape and raises `InputError` naming the tensor, the expected and the found shape; a truncated
or corrupt file is an `InputError` too. Only safetensors is read: never pickle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from oneshot_common.errors import InputError
from oneshot_common.netjob import WEIGHTS_FILE
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from oneshot_torch.model import SiameseNet, tensor_shapes

__all__ = [
    "WEIGHTS_FILE",
    "check_tensors",
    "load_weights",
    "read_tensors",
    "save_tensors",
    "save_weights",
    "state_tensors",
]


def _dims(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def read_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; InputError if it is missing, truncated or corrupt."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file, expected a safetensors file")
    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path}: not a readable safetensors file ({detail}), expected a complete safetensors "
            "file (truncated or corrupt?)"
        ) from None


def check_tensors(
    tensors: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], where: str
) -> None:
    """Raise InputError naming the first missing, extra, mis-typed or mis-shaped tensor."""
    for name, dims in expected.items():
        if name not in tensors:
            raise InputError(f"{where}: tensor {name} is missing, expected shape {_dims(dims)}")
    for name in tensors:
        if name not in expected:
            raise InputError(
                f"{where}: unexpected tensor {name} (shape {_dims(list(tensors[name].shape))}), "
                f"expected only {', '.join(expected)}"
            )
    for name, dims in expected.items():
        found = tensors[name]
        if tuple(found.shape) != tuple(dims):
            raise InputError(
                f"{where}: tensor {name} has shape {_dims(list(found.shape))}, "
                f"expected {_dims(dims)}"
            )
        if found.dtype != torch.float32:
            raise InputError(
                f"{where}: tensor {name} has dtype {str(found.dtype).removeprefix('torch.')}, "
                "expected float32"
            )


def load_weights(net: SiameseNet, path: str | os.PathLike[str]) -> None:
    """Load an interchange weights file into `net`, checking it against `net.shape`."""
    tensors = read_tensors(path)
    check_tensors(tensors, tensor_shapes(net.shape), os.fspath(path))
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.copy_(tensors[name])


def state_tensors(net: SiameseNet, prefix: str = "") -> dict[str, torch.Tensor]:
    """The network's parameters as contiguous float32 CPU tensors, interchange names."""
    return {
        prefix + name: param.detach().to("cpu", torch.float32).contiguous()
        for name, param in net.named_parameters()
    }


def save_tensors(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Write tensors as safetensors atomically (a temporary name, then a rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.fspath(tmp))
    os.replace(tmp, target)


def save_weights(net: SiameseNet, path: str | os.PathLike[str]) -> None:
    save_tensors(state_tensors(net), path)
