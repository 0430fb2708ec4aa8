"""PyTorch used plainly: the Koch et al. (2015) siamese network as a PyTorch user writes it.

The yardstick that python-torch (impls/python/oneshot_torch) must match: one file, nothing of
the project imported, `nn.Conv2d`/`nn.Linear` modules, both towers in one batched call,
channels_last, `torch.optim.SGD` (or `Adam`) with one parameter group per layer's weights and
biases (L2 on weights only), glibc told to keep freed memory (as oneshot_torch/allocator.py
does). Inputs are built before the clock; the timed section of a call is zeroing gradients,
forward, loss, backward and update (`step`) or the network call (`forward`), exactly what
python-torch times (docs/protocol.md, "Steady state and cold start").

Two ways in: `plain_job.py run JOB.json` (the harness's job protocol, the implementation
`python-torch-plain`) and `benchmarks/plain_torch.py` (a stand-alone script on random inputs).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {  # filters, kernels, embedding, input (docs/protocol.md, "Presets")
    "paper": ((64, 128, 128, 256), (10, 7, 4, 4), 4096, 105),
    "cpu": ((32, 64, 64, 128), (10, 7, 4, 4), 1024, 105),
    "small": ((32, 64, 64, 128), (5, 5, 3, 3), 1024, 52),
    "tiny": ((4, 8, 8, 16), (5, 3, 2, 2), 32, 32),
}
LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "out")


def set_up(threads: int) -> None:
    """Threads as the job gives them, one inter-op thread; glibc keeps freed memory (no mmap
    per big block, no heap trimming)."""
    libc = ctypes.CDLL(None)
    libc.mallopt(-4, 0)
    libc.mallopt(-1, 2**31 - 1)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


class Siamese(nn.Module):
    """Two towers sharing their weights, the weighted L1 distance, one logit per pair."""

    def __init__(self, filters: Sequence[int], kernels: Sequence[int], embedding: int, side: int):
        super().__init__()
        (f1, f2, f3, f4), (k1, k2, k3, k4) = filters, kernels
        self.conv1 = nn.Conv2d(1, f1, k1)
        self.conv2 = nn.Conv2d(f1, f2, k2)
        self.conv3 = nn.Conv2d(f2, f3, k3)
        self.conv4 = nn.Conv2d(f3, f4, k4)
        s = side - k1 + 1
        for k in (k2, k3, k4):
            s = s // 2 - k + 1
        self.fc1 = nn.Linear(f4 * s * s, embedding)
        self.out = nn.Linear(embedding, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, S, S) -> (N, E)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.conv4(x))
        return torch.sigmoid(self.fc1(x.contiguous().flatten(1)))  # C, H, W order

    def forward(
        self, a: torch.Tensor, b: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = self.embed(torch.cat((a, b)).contiguous(memory_format=torch.channels_last))
        e1, e2 = e[: len(a)], e[len(a) :]
        return e1, e2, self.out(torch.abs(e1 - e2)).squeeze(1)


def he_init(net: Siamese) -> None:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def paper_init(net: Siamese) -> None:
    """Koch et al. 2015, section 4.1: conv weights N(0, 1e-2), fc weights N(0, 2e-1), biases
    N(0.5, 1e-2) (standard deviations)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 1e-2 if isinstance(m, nn.Conv2d) else 2e-1)
            nn.init.normal_(m.bias, 0.5, 1e-2)


def images_to_input(ink: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 105, 105) booleans, True = ink -> (N, 1, S, S) float32, ink 1.0; adaptive average
    pooling for S < 105 (docs/protocol.md, "Network input")."""
    x = ink.to(torch.float32).unsqueeze(1)
    if side != x.shape[-1]:
        x = F.adaptive_avg_pool2d(x, side)
    return x.contiguous(memory_format=torch.channels_last)


def make_optimizer(net: Siamese, spec: dict[str, Any]) -> torch.optim.Optimizer:
    """The job's optimiser at epoch 0 (docs/protocol.md, "The optimiser"): per layer its lr,
    its momentum at epoch 0 (`momentum_start`, or `momentum` when it does not rise), L2 on
    weights only (coupled: PyTorch's `weight_decay`)."""
    adam = spec.get("name", "sgd") == "adam"
    groups: list[dict[str, Any]] = []
    for name in LAYERS:
        own = {**spec, **(spec.get("layers") or {}).get(name, {})}
        rises = int(spec.get("momentum_epochs", 10)) > 0
        momentum = spec.get("momentum_start", 0.5) if rises else own.get("momentum", 0.9)
        common = {"lr": float(own.get("lr", 0.01))} | ({} if adam else {"momentum": momentum})
        layer = getattr(net, name)
        groups.append({"params": [layer.weight], "weight_decay": float(own.get("l2", 2e-4))})
        groups.append({"params": [layer.bias], "weight_decay": 0.0})
        groups[-2].update(common)
        groups[-1].update(common)
    if adam:
        betas = tuple(spec.get("betas", (0.9, 0.999)))
        return torch.optim.Adam(groups, betas=betas, eps=float(spec.get("eps", 1e-8)))
    return torch.optim.SGD(groups)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # left, right (N, 1, S, S), labels (N)


def timed_steps(
    net: Siamese,
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_of: Callable[[int], Batch],
    keep_gradients: bool,
) -> tuple[list[float], list[float], dict[str, torch.Tensor]]:
    """`steps` training steps, step k on `batch_of(k)` (built before its clock): the losses,
    the seconds of each step, and step 0's gradients (before L2 and the update) if asked."""
    net.train()
    losses, seconds, grads = [], [], {}
    for k in range(steps):
        left, right, labels = batch_of(k)
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(net(left, right)[2], labels)
        loss.backward()
        if k == 0 and keep_gradients:
            grads = {f"grad.{n}": p.grad.detach().clone() for n, p in net.named_parameters()}
        value = loss.item()
        optimizer.step()
        seconds.append(time.perf_counter() - began)
        losses.append(value)
    return losses, seconds, grads


def timed_forward(
    net: Siamese,
    calls: int,
    batch_of: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    warmup: int,
    keep: Callable[[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], None],
) -> tuple[list[float], list[float]]:
    """`warmup` untimed calls on the first batch, then `calls` timed ones, call i on
    `batch_of(i)` (built before its clock): the warm-up seconds and each timed call's seconds;
    `keep(i, outputs)` takes call i's outputs after its clock stopped."""
    net.eval()
    warm, seconds = [], []
    with torch.inference_mode():
        first = batch_of(0) if warmup and calls else None
        for _ in range(warmup if first is not None else 0):
            began = time.perf_counter()
            net(*first)
            warm.append(time.perf_counter() - began)
        for i in range(calls):
            left, right = batch_of(i)
            began = time.perf_counter()
            outputs = net(left, right)
            seconds.append(time.perf_counter() - began)
            keep(i, outputs)
    return warm, seconds
