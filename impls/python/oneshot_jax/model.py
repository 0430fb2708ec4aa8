"""The siamese network of Koch, Zemel and Salakhutdinov (2015) as plain jax functions.

The same function as oneshot_torch.model (docs/protocol.md, "The network"), written for XLA:
parameters are a dict of arrays under the interchange names (`conv1.weight` ... `out.bias`)
in internal layouts, channels-last:

| tensor | interchange (file) | internal |
| --- | --- | --- |
| `convK.weight` | [O, I, K, K] (OIHW) | [K, K, I, O] (HWIO) |
| `fc1.weight` | [E, flat] | [flat, E] (x @ w) |
| `out.weight` | [1, E] | [E, 1] |
| biases | [O] | [O] |

`to_internal` / `to_interchange` convert at load and save (weights.py). Images are NHWC
[B, S, S, 1] float32, ink 1.0. One tower: conv (VALID, stride 1) -> ReLU -> 2x2 max-pool
(floor) three times, conv4 -> ReLU, then the flatten before fc1 in C, H, W order (the NHWC
activation is transposed to NCHW first, so fc1's weights keep the interchange meaning) and a
sigmoid embedding. `forward` runs both towers in ONE batched call (the two image batches
concatenated); the head is `out(|e1 - e2|)`, the loss the mean BCE on the logits,
`mean(max(z, 0) - z*y + log1p(exp(-|z|)))`. float32 throughout.

`prepare_images` reduces 105x105 images to `model.input` by adaptive average pooling in numpy,
outside the compiled network, as python-torch does it outside its timed call: exact integer
block sums divided by the block's height, then by its width, which is PyTorch's
`adaptive_avg_pool2d` bit for bit. `init_weights` draws the paper's or He's distributions with
numpy from the job seed (the values differ from python-torch's; the distributions do not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from oneshot_common.pooling import pool_pixels
from oneshot_common.rng import Rng
from oneshot_common.shape import Shape, check_shape, tensor_shapes

Params = dict[str, jax.Array]
Arrays = dict[str, npt.NDArray[np.float32]]

CONVS = ("conv1", "conv2", "conv3", "conv4")
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def to_internal(tensors: Mapping[str, npt.NDArray[Any]]) -> Arrays:
    """Interchange layouts (OIHW, out x in) -> internal layouts (HWIO, in x out), float32."""
    internal: Arrays = {}
    for name, value in tensors.items():
        array = np.asarray(value, dtype=np.float32)
        if name.endswith(".weight"):
            array = array.transpose(2, 3, 1, 0) if name.startswith("conv") else array.T
        internal[name] = np.ascontiguousarray(array)
    return internal


def to_interchange(params: Mapping[str, Any]) -> Arrays:
    """Internal layouts -> interchange layouts, as contiguous float32 numpy arrays."""
    tensors: Arrays = {}
    for name, value in params.items():
        array = np.asarray(value, dtype=np.float32)
        if name.endswith(".weight"):
            array = array.transpose(3, 2, 0, 1) if name.startswith("conv") else array.T
        tensors[name] = np.ascontiguousarray(array)
    return tensors


def max_pool(x: jax.Array) -> jax.Array:
    """2x2 max-pooling, stride 2, floor (NHWC)."""
    pooled: jax.Array = jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"
    )
    return pooled


def embed(params: Mapping[str, jax.Array], images: jax.Array) -> jax.Array:
    """Embeddings [B, E] of images [B, S, S, 1] (float32, ink 1.0)."""
    x = images
    for index, layer in enumerate(CONVS):
        x = jax.lax.conv_general_dilated(
            x, params[f"{layer}.weight"], (1, 1), "VALID", dimension_numbers=_DIMENSIONS
        )
        x = jax.nn.relu(x + params[f"{layer}.bias"])  # [B, s, s, F]
        if index < 3:
            x = max_pool(x)
    # Flatten in C, H, W order (the interchange layout of fc1's input): NHWC -> NCHW first.
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # [B, F4 * s4 * s4]
    return jax.nn.sigmoid(x @ params["fc1.weight"] + params["fc1.bias"])


def head(params: Mapping[str, jax.Array], emb1: jax.Array, emb2: jax.Array) -> jax.Array:
    """Logits [N] of the pairs: out(|e1 - e2|)."""
    return (jnp.abs(emb1 - emb2) @ params["out.weight"] + params["out.bias"])[:, 0]


def forward(
    params: Mapping[str, jax.Array], left: jax.Array, right: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(emb1, emb2, logits) of N pairs; both towers in one call on the 2N images."""
    n = left.shape[0]
    emb = embed(params, jnp.concatenate((left, right), axis=0))
    emb1, emb2 = emb[:n], emb[n:]
    return emb1, emb2, head(params, emb1, emb2)


def pair_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean binary cross-entropy of the logits against labels (1 same, 0 different)."""
    z = logits
    return jnp.mean(jnp.maximum(z, 0.0) - z * labels + jnp.log1p(jnp.exp(-jnp.abs(z))))


def batch_loss(
    params: Mapping[str, jax.Array], left: jax.Array, right: jax.Array, labels: jax.Array
) -> jax.Array:
    """The loss of a batch of pairs (what `jax.grad` differentiates)."""
    return pair_loss(forward(params, left, right)[2], labels)


def prepare_images(pixels: npt.NDArray[np.uint8], side: int) -> npt.NDArray[np.float32]:
    """0/1 images [B, 105, 105] -> float32 network input [B, side, side, 1] (NHWC), pooled by
    oneshot_common.pooling for side < 105 (PyTorch's arithmetic)."""
    return pool_pixels(pixels, side)[..., None]


def init_weights(shape: Shape, seed: int, method: str) -> Arrays:
    """Initial weights in interchange layouts, drawn in file order with a numpy generator seeded
    from the first output of `Rng(seed, "init")` (masked to 63 bits).

    `paper`: conv weights N(0, 1e-2), fc1 and out weights N(0, 2e-1), biases N(0.5, 1e-2);
    `he`: weights N(0, gain/fan_in) with gain 2 for the convs and 1 for fc1 and out, biases 0.
    """
    check_shape(shape)
    generator = np.random.default_rng(Rng(seed, "init").next_u64() >> 1)
    tensors: Arrays = {}
    for name, dims in tensor_shapes(shape).items():
        layer, kind = name.split(".")
        if method == "he":
            if kind == "bias":
                tensors[name] = np.zeros(dims, dtype=np.float32)
                continue
            fan_in = int(np.prod(dims[1:]))
            gain = 2.0 if layer.startswith("conv") else 1.0
            mean, std = 0.0, (gain / fan_in) ** 0.5
        elif kind == "bias":
            mean, std = 0.5, 1e-2
        else:
            mean, std = 0.0, (1e-2 if layer.startswith("conv") else 2e-1)
        tensors[name] = generator.normal(mean, std, dims).astype(np.float32)
    return tensors
