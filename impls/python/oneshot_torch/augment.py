"""Koch et al.'s affine distortions for torch tensors (docs/augment.md).

The distortions themselves (parameter draws, the inverse map, float64 resampling) and the
`augment` task are shared: oneshot_common.augment. `distort_batch` here also takes a torch
tensor [B, 1, S, S] or [B, S, S], distorts its pixels on the CPU with the shared numpy code and
returns a tensor of the same shape, dtype and device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from oneshot_common import augment
from oneshot_common.params import AugmentSpec
from oneshot_common.rng import Rng


def distort_batch(images: Any, rng: Rng, spec: AugmentSpec) -> Any:
    """Draw and apply distortions to a batch, image by image in batch order.

    `images`: numpy [B, S, S] (returned as numpy) or a torch tensor [B, 1, S, S] or [B, S, S]
    (returned as a tensor of the same shape and dtype).
    """
    if isinstance(images, np.ndarray):
        return augment.distort_batch(images, rng, spec)
    import torch

    squeezed = images.reshape(images.shape[0], images.shape[-2], images.shape[-1])
    pixels = squeezed.detach().cpu().contiguous().numpy()
    out = augment.distort_batch(pixels, rng, spec)
    return torch.from_numpy(out).reshape(images.shape).to(images.device)
