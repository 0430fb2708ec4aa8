"""The siamese network of Koch, Zemel and Salakhutdinov (2015), its presets and paper init.

`SiameseNet(shape)` is four convolutions (ReLU, 2x2 max-pooling after the first three), a fully
connected sigmoid embedding, and the head `out(|e1 - e2|)` that gives one logit per pair; the
loss is binary cross-entropy with logits, averaged over the batch (`pair_loss`). Layer names
and PyTorch layouts are the interchange names of docs/protocol.md ("Weights"): `conv1` ..
`conv4` (OIHW), `fc1` and `out` (out x in); the flatten before `fc1` is in C, H, W order.

Speed without changing the function: both towers run in ONE batched call (the two image
batches concatenated), activations AND convolution weights in `channels_last` memory format
(oneDNN's fast path on the CPU). Channels-last activations with OIHW weights, as this module
had before, make oneDNN reorder every weight on every call: 0.8x the plain PyTorch script on
the `paper` forward (benchmarks/vs_plain_torch.py). torch.compile is a separate
implementation, python-torch-compile (compiling.py), measured beside this one.

Shapes, presets and the weights file's tensor shapes are in oneshot_common.shape (re-exported
here). `input` smaller than 105 is reached by adaptive average pooling of the 105x105 image
(`prepare_images`); `init_paper(net, seed)` draws the paper's initial weights, `init_he` an
alternative for short runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from oneshot_common.rng import Rng
from oneshot_common.shape import (
    IMAGE_SIDE,
    LAYERS,
    PRESETS,
    Shape,
    check_shape,
    feature_sides,
    flat_size,
    parameter_count,
    tensor_shapes,
)
from torch import nn

# Re-exported: the shape helpers live in oneshot_common.shape (shared with python-jax).
__all__ = [
    "IMAGE_SIDE",
    "LAYERS",
    "PRESETS",
    "Shape",
    "SiameseNet",
    "check_shape",
    "feature_sides",
    "flat_size",
    "init_he",
    "init_paper",
    "init_weights",
    "pair_loss",
    "parameter_count",
    "prepare_images",
    "tensor_shapes",
]


class SiameseNet(nn.Module):
    """Koch et al.'s siamese convolutional network; `forward` returns (emb1, emb2, logits)."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        check_shape(shape)
        self.shape = shape
        f, k = shape.filters, shape.kernels
        self.conv1 = nn.Conv2d(1, f[0], k[0])
        self.conv2 = nn.Conv2d(f[0], f[1], k[1])
        self.conv3 = nn.Conv2d(f[1], f[2], k[2])
        self.conv4 = nn.Conv2d(f[2], f[3], k[3])
        self.fc1 = nn.Linear(flat_size(shape), shape.embedding)
        self.out = nn.Linear(shape.embedding, 1)
        # The conv weights in channels_last too, like the activations: with OIHW weights oneDNN
        # reorders them on every call, forward and backward (README, "Python at its best").
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings [N, E] of images [N, 1, input, input] (float, ink 1.0)."""
        x = images.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.conv4(x))
        # Flatten in C, H, W order whatever the memory format (the interchange layout of fc1).
        x = x.contiguous().flatten(1)
        return torch.sigmoid(self.fc1(x))

    def head(self, emb1: torch.Tensor, emb2: torch.Tensor) -> torch.Tensor:
        """Logits [N] of the pairs: out(|e1 - e2|)."""
        logits: torch.Tensor = self.out(torch.abs(emb1 - emb2))
        return logits.squeeze(1)

    def forward(
        self, left: torch.Tensor, right: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Both towers in one call: the same weights, one batch of 2N images.
        n = left.shape[0]
        emb = self.embed(torch.cat((left, right), dim=0))
        emb1, emb2 = emb[:n], emb[n:]
        return emb1, emb2, self.head(emb1, emb2)


def pair_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the logits against labels (1 same, 0 different)."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def prepare_images(images: torch.Tensor, side: int) -> torch.Tensor:
    """Float images [N, 105, 105] or [N, 1, 105, 105] -> [N, 1, side, side].

    For side < 105: adaptive average pooling (output pixel i covers input rows
    floor(i*105/side) .. ceil((i+1)*105/side) - 1, the same for columns, plain mean).
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if side != images.shape[-1]:
        images = F.adaptive_avg_pool2d(images, side)
    return images.contiguous(memory_format=torch.channels_last)


def init_paper(net: SiameseNet, seed: int) -> None:
    """Paper initialisation: conv weights N(0, 1e-2), fc weights N(0, 2e-1), biases N(0.5, 1e-2).

    Drawn with a torch.Generator seeded from the first output of `Rng(seed, "init")` (masked to
    63 bits), tensors in interchange order (conv1.weight, conv1.bias, ..., out.bias).
    """
    generator = torch.Generator().manual_seed(Rng(seed, "init").next_u64() >> 1)
    with torch.no_grad():
        for name, param in net.named_parameters():
            layer, kind = name.split(".")
            if kind == "bias":
                mean, std = 0.5, 1e-2
            else:
                mean, std = 0.0, (1e-2 if layer.startswith("conv") else 2e-1)
            values = torch.empty(param.shape, dtype=torch.float32)
            values.normal_(mean, std, generator=generator)
            param.copy_(values)


def init_he(net: SiameseNet, seed: int) -> None:
    """He initialisation: weights N(0, gain/fan_in) with gain 2 for the ReLU convs and 1 for fc1
    and out (sigmoid / logit), biases 0. Not in the paper: its N(0, 1e-2) conv weights with 0.5
    biases make the embeddings of different images nearly identical at the start, which slows
    short CPU runs down. Same generator seeding and tensor order as `init_paper`."""
    generator = torch.Generator().manual_seed(Rng(seed, "init").next_u64() >> 1)
    with torch.no_grad():
        for name, param in net.named_parameters():
            layer, kind = name.split(".")
            values = torch.zeros(param.shape, dtype=torch.float32)
            if kind == "weight":
                fan_in = param[0].numel()
                gain = 2.0 if layer.startswith("conv") else 1.0
                values.normal_(0.0, (gain / fan_in) ** 0.5, generator=generator)
            param.copy_(values)


def init_weights(net: SiameseNet, seed: int, method: str) -> None:
    """`method` "paper" (init_paper) or "he" (init_he)."""
    if method == "he":
        init_he(net, seed)
    else:
        init_paper(net, seed)
