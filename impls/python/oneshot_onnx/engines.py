"""The two inference engines that run the ONNX export (docs/protocol.md, "The ONNX export").

An `Engine` runs the exported tower: float32 images [N, 1, S, S] -> embeddings [N, E], a host
numpy array computed when `embed` returns, for any N (the graph's batch dimension is dynamic).

- `OrtEngine`: onnxruntime's `InferenceSession` on its CPU execution provider with
  `intra_op_num_threads` = the job's threads, one inter-op thread, sequential execution and
  every graph optimisation (`ORT_ENABLE_ALL`); everything else is onnxruntime's default,
  including that its intra-op threads spin for a while after their work
  (`session.intra_op.allow_spinning`, recorded in `versions` as it is).
- `OpenVinoEngine`: `openvino.Core().compile_model(model, "CPU", ...)` with
  `INFERENCE_NUM_THREADS` = the job's threads, `PERFORMANCE_HINT` LATENCY and
  `INFERENCE_PRECISION_HINT` f32: OpenVINO otherwise computes in bf16 on CPUs with AVX512_BF16
  (Zen 4 among them), another precision class than every other implementation's float32. One
  infer request, reused, its output copied out (`share_outputs=False`).

`open_engine(name, path, threads)` imports the engine (lazily: neither imports torch), checks the
file and the graph's input and output against the network shape and raises `InputError` (one
line naming the file) when the file is missing, unreadable or not the export of that shape.
`versions()` is what result.json's `versions` records of the engine: its version, the
execution provider or device, the session options actually in effect.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from oneshot_common.errors import InputError
from oneshot_common.shape import Shape

Floats = npt.NDArray[np.float32]

INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"
ENGINES = ("onnxruntime", "openvino")
SPINNING = "session.intra_op.allow_spinning"  # onnxruntime's session config key


class Engine(Protocol):
    """The exported tower under one inference engine."""

    name: str  # onnxruntime, openvino

    def embed(self, images: Floats) -> Floats:
        """Embeddings [N, E] of network inputs [N, 1, S, S] (float32, C-contiguous)."""
        ...

    def versions(self) -> dict[str, str]:
        """The engine's versions and settings for result.json's `versions`."""
        ...

    def threads(self) -> int:
        """The intra-op threads the engine was given (the job's `threads`)."""
        ...


def _check_file(path: str | None) -> str:
    if path is None:
        raise InputError("inputs.onnx: null, expected the ONNX export of inputs.weights")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file, expected the ONNX export of inputs.weights")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable, expected the ONNX export of inputs.weights")
    return path


def _check_dims(path: str, what: str, found: Sequence[Any], expected: Sequence[int]) -> None:
    """`found` is the graph's shape of `what`; its first (batch) dimension may be symbolic."""
    fixed = [d if isinstance(d, int) and d >= 0 else None for d in found]
    if len(fixed) != len(expected) or fixed[1:] != list(expected[1:]):
        shown = "[" + ", ".join("N" if d is None else str(d) for d in fixed) + "]"
        wanted = "[" + ", ".join(["N", *map(str, expected[1:])]) + "]"
        raise InputError(f"{path}: {what} has shape {shown}, expected {wanted} (the job's model)")


def _unreadable(path: str, exc: Exception) -> InputError:
    """The engine's own words, its last line (the first ones name its source files)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[-1] if lines else type(exc).__name__
    return InputError(f"{path}: not a readable ONNX model ({detail[:200]})")


class OrtEngine:
    """onnxruntime's `InferenceSession` on the CPU (see the module docstring)."""

    name = "onnxruntime"

    def __init__(self, path: str, shape: Shape, threads: int) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only, on stderr
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... classes
            raise _unreadable(path, exc) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise InputError(
                f"{path}: graph inputs {[i.name for i in inputs]} and outputs "
                f"{[o.name for o in outputs]}, expected ['{INPUT_NAME}'] and ['{OUTPUT_NAME}']"
            )
        _check_dims(path, INPUT_NAME, inputs[0].shape, (0, 1, shape.input, shape.input))
        _check_dims(path, OUTPUT_NAME, outputs[0].shape, (0, shape.embedding))
        self.ort, self.options, self._threads = ort, options, threads
        self.outputs = [OUTPUT_NAME]

    def embed(self, images: Floats) -> Floats:
        embeddings: Floats = self.session.run(self.outputs, {INPUT_NAME: images})[0]
        return embeddings

    def threads(self) -> int:
        return self._threads

    def versions(self) -> dict[str, str]:
        options = self.options
        try:
            spinning = options.get_session_config_entry(SPINNING)
        except RuntimeError:  # not set: onnxruntime's default, its threads spin
            spinning = "1 (default)"
        return {
            "onnxruntime": self.ort.__version__,
            "ort_providers": ",".join(self.session.get_providers()),
            "ort_build": self.ort.get_build_info(),
            "ort_session_options": (
                f"intra_op_num_threads={options.intra_op_num_threads} "
                f"inter_op_num_threads={options.inter_op_num_threads} "
                "execution_mode=ORT_SEQUENTIAL graph_optimization_level=ORT_ENABLE_ALL "
                f"allow_spinning={spinning}"
            ),
        }


class OpenVinoEngine:
    """OpenVINO's CPU plugin, float32, latency hint (see the module docstring)."""

    name = "openvino"

    def __init__(self, path: str, shape: Shape, threads: int) -> None:
        import openvino as ov  # type: ignore[import-untyped]
        from openvino.frontend import FrontEndManager  # type: ignore[import-untyped]

        self.ov, self.core = ov, ov.Core()
        # The ONNX front end itself: `Core.read_model` tries every front end on a file it
        # cannot parse, and TensorFlow's writes lines of its own to stderr.
        onnx = FrontEndManager().load_by_framework("onnx")
        try:
            model = onnx.convert(onnx.load(path))
        except Exception as exc:  # OpenVINO raises GeneralFailure and its own classes
            raise _unreadable(path, exc) from None
        names = [next(iter(p.get_names()), "") for p in model.inputs]
        outs = [next(iter(p.get_names()), "") for p in model.outputs]
        if names != [INPUT_NAME] or outs != [OUTPUT_NAME]:
            raise InputError(
                f"{path}: graph inputs {names} and outputs {outs}, "
                f"expected ['{INPUT_NAME}'] and ['{OUTPUT_NAME}']"
            )
        dims = [d.get_length() if d.is_static else None for d in model.inputs[0].partial_shape]
        _check_dims(path, INPUT_NAME, dims, (0, 1, shape.input, shape.input))
        dims = [d.get_length() if d.is_static else None for d in model.outputs[0].partial_shape]
        _check_dims(path, OUTPUT_NAME, dims, (0, shape.embedding))
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self.compiled = self.core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]
        self._threads = threads

    def embed(self, images: Floats) -> Floats:
        results = self.request.infer({INPUT_NAME: images}, share_inputs=True, share_outputs=False)
        embeddings: Floats = results[self.output]
        return embeddings

    def threads(self) -> int:
        return int(self.compiled.get_property("INFERENCE_NUM_THREADS"))

    def versions(self) -> dict[str, str]:
        compiled, core = self.compiled, self.core
        settings = " ".join(
            f"{key}={_setting(compiled.get_property(key))}"
            for key in (
                "INFERENCE_NUM_THREADS",
                "PERFORMANCE_HINT",
                "INFERENCE_PRECISION_HINT",
                "NUM_STREAMS",
            )
        )
        return {
            "openvino": self.ov.get_version(),
            "openvino_device": str(core.get_property("CPU", "FULL_DEVICE_NAME")),
            "openvino_capabilities": ",".join(
                core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            ),
            "openvino_settings": settings,
        }


def _setting(value: Any) -> str:
    """An OpenVINO property as it is written in its config (`f32`, not `<Type: 'float32'>`)."""
    name = getattr(value, "get_type_name", None)
    return str(name() if callable(name) else value)


def open_engine(name: str, path: str | None, shape: Shape, threads: int) -> Engine:
    """The engine `name` on the ONNX file `path`, checked against `shape` (InputError)."""
    checked = _check_file(path)
    if name == "onnxruntime":
        return OrtEngine(checked, shape, threads)
    if name == "openvino":
        return OpenVinoEngine(checked, shape, threads)
    raise ValueError(f"unknown engine {name!r}")  # the command line accepts ENGINES only
