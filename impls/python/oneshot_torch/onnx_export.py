"""The ONNX export of a weights file (docs/protocol.md, "The ONNX export").

`python -m oneshot_torch export-onnx --weights W.safetensors --model JSON --out model.onnx`
(the verb's arguments are parsed in cli.py) loads python-torch's own `SiameseNet` from the
weights file, checked against the model JSON (the job's `model`), and writes its tower, conv1 ..
fc1 and the sigmoid, with `torch.onnx.export` (the dynamo exporter of torch 2.13, onnx and
onnxscript, opset 18): one input `images` float32 [N, 1, S, S] with a dynamic N, one output
`embeddings` float32 [N, E]. The graph's initializers keep the interchange names
(`conv1.weight` ... `fc1.bias`); the head (`out.*`) is left out: every engine computes it from
the weights file in its host language. The weights are stored inside the file (about 156 MB
at the paper shape, far below protobuf's 2 GB that would force external data). The file is
written under a temporary name and renamed, so a reader never sees half an export.

Bad input (a model JSON that is not a valid shape, a missing or mismatched weights file, an out
folder that does not exist) is an `InputError`: one line, exit 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from oneshot_common.errors import InputError
from oneshot_common.job import from_dict
from oneshot_common.params import ModelSpec
from oneshot_common.shape import Shape, check_shape
from torch import nn

from oneshot_torch.model import SiameseNet
from oneshot_torch.weights import load_weights

OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"


class Tower(nn.Module):
    """One tower of a `SiameseNet`: its layers conv1 .. fc1 (the same modules, not copies) and
    `SiameseNet.embed` as `forward`, so that the exported initializers carry the interchange
    names and the function is python-torch's own."""

    def __init__(self, net: SiameseNet) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv4 = net.conv1, net.conv2, net.conv3, net.conv4
        self.fc1 = net.fc1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # embed reads only conv1 .. fc1, which this module holds under the same names.
        return SiameseNet.embed(self, images)  # type: ignore[arg-type]


def parse_model(text: str) -> Shape:
    """The model JSON (`{"filters": [4], "kernels": [4], "embedding": E, "input": S}`) as a
    checked `Shape`; InputError naming the key on anything else."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--model: not JSON ({exc}), expected the job's model object") from None
    spec: ModelSpec = from_dict(ModelSpec, raw, "model")
    if spec.conv is not None and "fft" in spec.conv:
        raise InputError("model.conv: got fft, expected direct (the export is of the network)")
    f, k = spec.filters, spec.kernels
    shape = Shape((f[0], f[1], f[2], f[3]), (k[0], k[1], k[2], k[3]), spec.embedding, spec.input)
    check_shape(shape)
    return shape


def export_onnx(weights: str, model: str, out: str) -> dict[str, Any]:
    """Export the tower of `weights` (checked against `model`) to `out`; what was written."""
    shape = parse_model(model)
    target = Path(out)
    if not target.parent.is_dir():
        raise InputError(f"--out: {target.parent} is not an existing folder")
    net = SiameseNet(shape)
    load_weights(net, weights)
    # The export runs the tower once on a batch of 2 with N symbolic; OIHW weights export as
    # they are (channels_last is a memory layout, not part of the graph).
    net.eval()
    example = torch.zeros(2, 1, shape.input, shape.input)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with _quiet():
            torch.onnx.export(
                Tower(net),
                (example,),
                os.fspath(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=OPSET,
                dynamic_shapes={"images": {0: torch.export.Dim("N")}},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # a failed export leaves no half-written file
    return {"onnx": os.fspath(target), "bytes": target.stat().st_size, "opset": OPSET}


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporter's progress lines ("[torch.onnx] ...") and its warnings about optional
    packages (torchvision) kept off stdout and stderr; errors still propagate."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    sink = io.StringIO()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
