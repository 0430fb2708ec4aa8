"""The weights interchange file through numpy: safetensors, float32, PyTorch layouts.

The same file as python-torch's (docs/protocol.md, "Weights"): `conv1.weight` [F1, 1, K1, K1]
... `out.bias` [1], read and written with safetensors' numpy API, never pickle. `read_weights`
checks every name, dtype and shape against the network shape before loading any data and
raises `InputError` in one line naming the tensor, the expected and the found shape, exactly
as python-torch words it (`w.safetensors: tensor fc1.weight has shape [32, 17], expected
[32, 16]`); a truncated or corrupt file is an `InputError` too. Layouts are converted to the
network's internal ones in model.py (`to_internal`, `to_interchange`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from oneshot_common.errors import InputError
from oneshot_common.shape import Shape, tensor_shapes
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

# safetensors' dtype codes under the names torch gives them (the wording of python-torch).
DTYPE_NAMES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}

Arrays = dict[str, npt.NDArray[Any]]


def _dims(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _unreadable(path: str | os.PathLike[str], exc: Exception) -> InputError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(
        f"{path}: not a readable safetensors file ({detail}), expected a complete safetensors "
        "file (truncated or corrupt?)"
    )


def read_tensors(
    path: str | os.PathLike[str], expected: Mapping[str, tuple[int, ...]] | None = None
) -> Arrays:
    """Every tensor of a safetensors file as numpy; with `expected`, names, shapes and dtypes
    are checked (check_header) before any data is read."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file, expected a safetensors file")
    try:
        with safe_open(os.fspath(path), framework="np") as handle:
            names = list(handle.keys())
            if expected is not None:
                header = {}
                for name in names:
                    part = handle.get_slice(name)
                    header[name] = (tuple(part.get_shape()), str(part.get_dtype()))
                check_header(header, expected, os.fspath(path))
            return {name: handle.get_tensor(name) for name in names}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise _unreadable(path, exc) from None


def check_header(
    found: Mapping[str, tuple[tuple[int, ...], str]],
    expected: Mapping[str, tuple[int, ...]],
    where: str,
) -> None:
    """Raise InputError naming the first missing, extra, mis-shaped or mis-typed tensor
    (`found`: name -> (shape, safetensors dtype code)), in python-torch's order and words."""
    for name, dims in expected.items():
        if name not in found:
            raise InputError(f"{where}: tensor {name} is missing, expected shape {_dims(dims)}")
    for name, (dims, _) in found.items():
        if name not in expected:
            raise InputError(
                f"{where}: unexpected tensor {name} (shape {_dims(list(dims))}), "
                f"expected only {', '.join(expected)}"
            )
    for name, dims in expected.items():
        shape, dtype = found[name]
        if tuple(shape) != tuple(dims):
            raise InputError(
                f"{where}: tensor {name} has shape {_dims(list(shape))}, expected {_dims(dims)}"
            )
        if dtype != "F32":
            raise InputError(
                f"{where}: tensor {name} has dtype {DTYPE_NAMES.get(dtype, dtype.lower())}, "
                "expected float32"
            )


def read_weights(path: str | os.PathLike[str], shape: Shape) -> Arrays:
    """The interchange tensors of a weights file for `shape` (interchange layouts)."""
    return read_tensors(path, tensor_shapes(shape))


def save_tensors(tensors: Mapping[str, npt.NDArray[Any]], path: str | os.PathLike[str]) -> None:
    """Write tensors as safetensors atomically (a temporary name, then a rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.fspath(tmp))
    os.replace(tmp, target)
