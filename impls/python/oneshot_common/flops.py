"""Analytic floating-point operation counts of the siamese network (docs/protocol.md, "FLOPs").

One multiply-add counts as 2 FLOP; activations, pooling, biases and the loss are not counted.
Per image forward: sum over convs of 2*k*k*c_in*c_out*h_out*w_out, plus 2*flat*embedding for
fc1. Per pair forward: two images plus 2*embedding for the head. Per training pair: 3x the pair
forward (the backward pass costs about twice the forward). For the `paper` shape this gives
1.8172 GFLOP per image, 3.6345 per pair forward and 10.9035 per training pair.
"""

from __future__ import annotations

from oneshot_common.shape import Shape, feature_sides, flat_size


def image_forward_flop(shape: Shape) -> int:
    """FLOP of one image through the conv tower and fc1."""
    total, channels = 0, 1
    for side, width, kernel in zip(feature_sides(shape), shape.filters, shape.kernels, strict=True):
        total += 2 * kernel * kernel * channels * width * side * side
        channels = width
    return total + 2 * flat_size(shape) * shape.embedding


def pair_forward_flop(shape: Shape) -> int:
    """FLOP of one pair forward: both towers and the head."""
    return 2 * image_forward_flop(shape) + 2 * shape.embedding


def train_pair_flop(shape: Shape) -> int:
    """FLOP of one pair's training step (forward + backward, 3x the forward)."""
    return 3 * pair_forward_flop(shape)
