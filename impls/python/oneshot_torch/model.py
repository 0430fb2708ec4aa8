"""The siamese network of Koch, Zemel and Salakhutdinov (2015), its presets and paper init.

`SiameseNet(shape)` is four convolutions (ReLU, 2x2 max-pooling after the first three), a fully
connected sigmoid embedding, and the head `out(|e1 - e2|)` that gives one logit per pair; the
loss is binary cross-entropy with logits, averaged over the batch (`pair_loss`). Layer names
and PyTorch layouts are the interchange names of docs/protocol.md ("Weights"): `conv1` ..
`conv4` (OIHW), `fc1` and `out` (out x in); the flatten before `fc1` is in C, H, W order.

Speed without changing the function: both towers run in ONE batched call (the two image
batches concatenated), activations in `channels_last` memory format (oneDNN's fast path on the
CPU). Measured with 2 threads on the shared 2-core machine, interleaved A/B, throughput from
process CPU time (training pairs/s, forward + backward, batch 32): `paper` two NCHW tower calls
11.7, batched NCHW 13.0, batched channels_last 12.4 (a second run: 12.3 vs 12.5); `cpu` batched
NCHW 36.6, channels_last 37.8: the memory format is within noise, batching helps. torch.compile
(inductor, CPU) compiles for ~50 s and was not faster for training (0.9x), so it is not used.

`input` smaller than 105 is reached by adaptive average pooling of the 105x105 image
(`prepare_images`); `init_paper(net, seed)` draws the paper's initial weights, `init_he` an
alternative for short runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from oneshot_torch.errors import InputError
from oneshot_torch.rng import Rng

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
