"""Adaptive average pooling of 0/1 images in numpy, PyTorch's `adaptive_avg_pool2d` bit for bit:
exact integer block sums from cumulative sums, divided by the block's height, then by its
width, in float32. Output pixel (i, j) covers rows floor(i*105/S) .. ceil((i+1)*105/S) - 1 and
the same columns (docs/protocol.md, "The network"). python-jax and the ONNX engines pool with
it (tests/onnx_impl checks it against torch)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from oneshot_common.shape import IMAGE_SIDE

Floats = npt.NDArray[np.float32]


def pool_bounds(side: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Starts and ends of adaptive pooling's blocks: floor(i*105/S) .. ceil((i+1)*105/S)."""
    index = np.arange(side)
    starts = (index * IMAGE_SIDE) // side
    ends = -((-(index + 1) * IMAGE_SIDE) // side)
    return starts.astype(np.intp), ends.astype(np.intp)


def pool_pixels(pixels: npt.NDArray[np.uint8], side: int) -> Floats:
    """0/1 images [B, 105, 105] -> float32 [B, side, side] (the image itself for side 105)."""
    if side == IMAGE_SIDE:
        return pixels.astype(np.float32)
    starts, ends = pool_bounds(side)
    counts = np.zeros((len(pixels), IMAGE_SIDE + 1, IMAGE_SIDE), dtype=np.int32)
    np.cumsum(pixels, axis=1, dtype=np.int32, out=counts[:, 1:])
    rows = counts[:, ends] - counts[:, starts]  # [B, S, 105] row sums of each block
    columns = np.zeros((len(pixels), side, IMAGE_SIDE + 1), dtype=np.int32)
    np.cumsum(rows, axis=2, dtype=np.int32, out=columns[:, :, 1:])
    sums = (columns[:, :, ends] - columns[:, :, starts]).astype(np.float32)  # exact integers
    heights = (ends - starts).astype(np.float32)
    pooled: Floats = sums / heights[None, :, None] / heights[None, None, :]
    return pooled
