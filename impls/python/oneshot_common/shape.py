"""Network shapes of the siamese network: presets, feature sides, the weights file's tensors.

Framework-free (docs/protocol.md, "The network" and "Weights"): a `Shape` is four conv widths
and kernels, the embedding size and the input side. `check_shape` rejects a shape the network
cannot have (a side that vanishes after a conv, below 2 before a pooling, an input above 105),
naming the layer; `tensor_shapes` gives the interchange tensors in file order with PyTorch
layouts (OIHW conv weights, out x in linear weights), which every implementation reads and
writes whatever its own internal layout. `network_shape(job)` is the job's checked `model`.
"""

from __future__ import annotations

from dataclasses import dataclass

from oneshot_common.errors import InputError
from oneshot_common.job import Job

IMAGE_SIDE = 105
LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "out")


@dataclass(frozen=True)
class Shape:
    """A network shape: conv widths and kernel sizes, embedding size, input side in pixels."""

    filters: tuple[int, int, int, int]
    kernels: tuple[int, int, int, int]
    embedding: int
    input: int


PRESETS: dict[str, Shape] = {
    # Koch et al. (2015): 38,951,745 parameters, about 1.82 GFLOP per image forward.
    "paper": Shape((64, 128, 128, 256), (10, 7, 4, 4), 4096, 105),
    # CPU-sized: the same layout with half the widths and a 1024 embedding (about 4x cheaper).
    "cpu": Shape((32, 64, 64, 128), (10, 7, 4, 4), 1024, 105),
    # CPU quality runs: the `cpu` widths on a 52-pixel input with smaller kernels (48 -> 24 ->
    # 20 -> 10 -> 8 -> 4 -> 2), about 10x cheaper than `cpu` per pair (configs/quality-cpu.yaml).
    "small": Shape((32, 64, 64, 128), (5, 5, 3, 3), 1024, 52),
    # For tests: a 32-pixel input, three-digit widths (about 0.1 MFLOP per image).
    "tiny": Shape((4, 8, 8, 16), (5, 3, 2, 2), 32, 32),
}


def feature_sides(shape: Shape) -> list[int]:
    """Spatial side after each conv layer (before its pooling); raises InputError if it vanishes."""
    side, sides = shape.input, []
    for index, kernel in enumerate(shape.kernels):
        side = side - kernel + 1
        if side < 1:
            raise InputError(
                f"model: conv{index + 1} kernel {kernel} does not fit a {side + kernel - 1}-pixel "
                "input, expected a smaller kernel or a larger model.input"
            )
        sides.append(side)
        if index < 3:
            if side < 2:
                raise InputError(
                    f"model: conv{index + 1} output is {side} pixel wide, expected at least 2 "
                    "for its 2x2 max-pooling (smaller kernels or a larger model.input)"
                )
            side //= 2
    return sides


def check_shape(shape: Shape) -> None:
    """Reject shapes the network cannot have, before any work starts."""
    if shape.input > IMAGE_SIDE:
        raise InputError(
            f"model.input: {shape.input} is out of range, expected at most {IMAGE_SIDE} "
            "(images are 105x105 and are only ever pooled down)"
        )
    feature_sides(shape)


def flat_size(shape: Shape) -> int:
    """Length of the flattened conv4 output that feeds fc1."""
    side = feature_sides(shape)[-1]
    return shape.filters[3] * side * side


def tensor_shapes(shape: Shape) -> dict[str, tuple[int, ...]]:
    """Interchange tensor names -> shapes (PyTorch layouts), in file order."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels = 1
    for index, (width, kernel) in enumerate(zip(shape.filters, shape.kernels, strict=True)):
        shapes[f"conv{index + 1}.weight"] = (width, channels, kernel, kernel)
        shapes[f"conv{index + 1}.bias"] = (width,)
        channels = width
    shapes["fc1.weight"] = (shape.embedding, flat_size(shape))
    shapes["fc1.bias"] = (shape.embedding,)
    shapes["out.weight"] = (1, shape.embedding)
    shapes["out.bias"] = (1,)
    return shapes


def parameter_count(shape: Shape) -> int:
    total = 0
    for dims in tensor_shapes(shape).values():
        count = 1
        for d in dims:
            count *= d
        total += count
    return total


def network_shape(job: Job) -> Shape:
    """The job's `model` as a checked `Shape`; InputError when it is missing or impossible."""
    if job.model is None:
        raise InputError(
            f"model: null, expected the network shape {{filters, kernels, embedding, input}} "
            f"for task {job.task}"
        )
    f, k = job.model.filters, job.model.kernels
    shape = Shape(
        (f[0], f[1], f[2], f[3]), (k[0], k[1], k[2], k[3]), job.model.embedding, job.model.input
    )
    check_shape(shape)
    return shape
