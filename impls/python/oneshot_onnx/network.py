"""`OnnxNetwork`: the exported tower under an inference engine, with the head in numpy, as the
shared loops of oneshot_common use a network.

It is a `Network` for `forward` (oneshot_common.nettasks: both towers in one engine call of 2B
images, then the head), a `ScoringNetwork` for `evaluate` (oneshot_common.netscorer: one
engine call per batch of images, the head over the pairs) and a `ServingNetwork` for `serve`
(oneshot_common.serving: the support set in one call of `ways` images, each query in a call of
one image, the head against the cached support embeddings). The engine (engines.py) computes
conv1 .. fc1 and the sigmoid; the head `out(|e1 - e2|)` is float32 numpy from the weights
file's `out.weight` and `out.bias` (`read_head`), as every implementation computes it. Every
engine call returns host arrays that are computed: nothing to wait for, no device.

The network input is the image unpacked and pooled on the host (pixels.py), float32
[B, 1, S, S]; for `forward` it is built untimed, for `evaluate` and `serve` inside the timed
calls, as the other Python implementations do. The training side of `Network` is never called
(tasks.py refuses `step` and `train` before any work); it raises if it were.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
from oneshot_common.errors import InputError, TaskError
from oneshot_common.evaluate import Index, Scorer
from oneshot_common.netjob import PairSource
from oneshot_common.network import Floats, Packed
from oneshot_common.serving import numpy_head
from oneshot_common.shape import Shape, tensor_shapes
from oneshot_common.trials import TrialSet

from oneshot_onnx.engines import Engine
from oneshot_onnx.pixels import to_input

SAFETENSORS_DTYPE = "F32"


def _dims(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def read_head(path: str | None, shape: Shape) -> tuple[Floats, float]:
    """`out.weight` as [E] and `out.bias[0]` of the weights file, after checking every tensor's
    name, dtype and shape against `shape` as the other implementations do (InputError naming
    the tensor); only the head's bytes are read."""
    from safetensors import SafetensorError, safe_open

    if path is None:
        raise InputError(
            "inputs.weights: null, expected the weights file of inputs.onnx (its head out.*)"
        )
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file, expected a safetensors file")
    expected = tensor_shapes(shape)
    try:
        with safe_open(path, framework="numpy") as handle:
            names = list(handle.keys())
            for name, dims in expected.items():
                if name not in names:
                    raise InputError(f"{path}: tensor {name} is missing, expected {_dims(dims)}")
            for name in names:
                found = handle.get_slice(name)
                if name not in expected:
                    raise InputError(
                        f"{path}: unexpected tensor {name} (shape {_dims(found.get_shape())}), "
                        f"expected only {', '.join(expected)}"
                    )
                if tuple(found.get_shape()) != expected[name]:
                    raise InputError(
                        f"{path}: tensor {name} has shape {_dims(found.get_shape())}, "
                        f"expected {_dims(expected[name])}"
                    )
                if found.get_dtype() != SAFETENSORS_DTYPE:
                    raise InputError(
                        f"{path}: tensor {name} has dtype {found.get_dtype()}, expected float32"
                    )
            weight = np.ascontiguousarray(handle.get_tensor("out.weight").reshape(-1))
            bias = float(handle.get_tensor("out.bias")[0])
    except (SafetensorError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{path}: not a readable safetensors file ({detail}), expected a complete "
            "safetensors file (truncated or corrupt?)"
        ) from None
    return weight.astype(np.float32, copy=False), bias


class OnnxNetwork:
    """An engine's tower and the numpy head (see the module docstring)."""

    warm_every_size = False  # one session or compiled model for every batch size
    head_pairs: int | None = None  # every pair of a `similarity` call in one `head` call

    def __init__(self, engine: Engine, shape: Shape, head: tuple[Floats, float]) -> None:
        self.engine, self.shape = engine, shape
        self.weight, self.bias, self.bias_value = head[0], np.float32(head[1]), head[1]

    def _head(self, emb1: Floats, emb2: Floats) -> Floats:
        """out(|e1 - e2|) of pairs of rows, float32 [P]."""
        logits: Floats = np.abs(emb1 - emb2) @ self.weight + self.bias
        return logits

    def _embed(self, images: Packed) -> Floats:
        return self.engine.embed(to_input(images, self.shape.input))

    # --- forward (oneshot_common.nettasks) ------------------------------------------------

    def compile_forward(self, sizes: list[int]) -> None:
        pass  # the engine prepared its graph when the session was made

    def inference(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def pair_inputs(self, left: Packed, right: Packed) -> tuple[Floats, int]:
        """Both towers' images in one input [2B, 1, S, S], left ones first (untimed)."""
        return to_input(np.concatenate((left, right)), self.shape.input), len(left)

    def sync(self) -> None:
        pass  # every engine call returns computed host arrays

    def forward(self, inputs: tuple[Floats, int]) -> tuple[Floats, Floats, Floats]:
        images, count = inputs
        embeddings = self.engine.embed(images)
        emb1, emb2 = embeddings[:count], embeddings[count:]
        return emb1, emb2, self._head(emb1, emb2)

    def to_host(self, outputs: tuple[Floats, Floats, Floats]) -> tuple[Floats, Floats, Floats]:
        return outputs

    def save_outputs(self, tensors: dict[str, Floats], path: str) -> None:
        from safetensors.numpy import save_file

        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.fspath(tmp))
        os.replace(tmp, target)

    def task_metrics(
        self, first_s: float, steady_s: float, first_batch: Callable[[], Any]
    ) -> dict[str, Any]:
        return {"engine_threads": self.engine.threads()}

    # --- evaluate (oneshot_common.netscorer) ----------------------------------------------

    def prepare_scoring(self, images: int, batch: int) -> None:
        pass

    def embedding(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def embed_batch(self, images: Packed, batch: int) -> Floats:
        return self._embed(images)

    def wait(self, embeddings: Floats) -> None:
        pass

    def gather(self, parts: list[Floats]) -> Floats:
        if not parts:
            return np.empty((0, self.shape.embedding), dtype=np.float32)
        return np.concatenate(parts)

    def head(self, embeddings: Floats, queries: Index, candidates: Index) -> Floats:
        return self._head(embeddings[queries], embeddings[candidates])

    def scoring_metrics(self, first_s: float | None, steady_s: float) -> dict[str, Any]:
        return {"engine_threads": self.engine.threads()}

    # --- serve (oneshot_common.serving) ---------------------------------------------------

    def prepare_serving(self, ways: int) -> None:
        pass  # no call before the cold query: its latency holds the engine's first run

    def enrol(self, images: Packed) -> Floats:
        return self._embed(images)

    def query(self, support: Floats, image: Packed) -> Floats:
        return numpy_head(self.weight, self.bias_value, self._embed(image), support)

    def serving_metrics(self) -> dict[str, Any]:
        return {"engine_threads": self.engine.threads()}

    # --- training: never called (tasks.py refuses step and train first) ------------------

    def _no_training(self) -> TaskError:
        return TaskError(f"python-{self.engine.name} does not train")

    def compile_step(self, batch: int, gradients: bool) -> None:
        raise self._no_training()

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        raise self._no_training()

    def start_epoch(self, epoch: int) -> None:
        raise self._no_training()

    def prepare(self, pixels1: Packed, pixels2: Packed, labels: Packed) -> Any:
        raise self._no_training()

    def gradients_before_step(self, batch: Any) -> bool:
        raise self._no_training()

    def step(self, batch: Any, keep_gradients: bool = False) -> float:
        raise self._no_training()

    def scorer(self) -> Scorer:
        raise self._no_training()

    def save(self, path: str) -> None:
        raise self._no_training()

    def save_gradients(self, path: str) -> None:
        raise self._no_training()

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        raise self._no_training()

    def final_metrics(self) -> dict[str, Any]:
        raise self._no_training()
