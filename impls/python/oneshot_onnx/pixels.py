"""Packed images -> the ONNX graph's input: float32 [B, 1, S, S], ink 1.0, C-contiguous.

`to_input` unpacks the bits (oneshot_common.data.unpack_bits) and, for S < 105, reduces the
105x105 image by adaptive average pooling (oneshot_common.pooling, shared with python-jax).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from oneshot_common.data import unpack_bits
from oneshot_common.pooling import Floats, pool_pixels


def to_input(packed: npt.NDArray[np.uint8], side: int) -> Floats:
    """Packed images [B, 1379] -> float32 network input [B, 1, side, side], C-contiguous (the
    pooled blocks come out of numpy's fancy indexing in another order; the engines read rows)."""
    return np.ascontiguousarray(pool_pixels(unpack_bits(packed), side)[:, None])
