"""torch.compile as a measured option: the implementation `python-torch-compile`.

`python -m oneshot_torch.compiled run JOB.json` runs python-torch's own tasks with one
difference: `enable()` is called first, and `make_net` then compiles the network's tower
(`SiameseNet.embed`, the four convolutions and fc1: all of the flops) with
`torch.compile(backend="inductor", dynamic=False)` on the CPU, through the machine's C++
compiler. The head, the loss and the fused SGD update stay eager; the backward is compiled with
the forward (AOTAutograd).

Compilation happens on the first call of each shape and grad mode, so it lands in the warm-up
calls, never in a timed section. `compile_s` = the first call's seconds minus a steady call's
(docs/protocol.md, "Steady state and cold start"). Shapes stay fixed so that nothing
recompiles in a timed loop: `evaluate` pads its last batch of images up to `batch` (the padding
rows' embeddings are dropped). `train`'s last batch of an epoch may be shorter and compiles once
more inside the first epoch; `compiled_graphs` counts the graphs compiled, so that shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from oneshot_torch.model import SiameseNet

_enabled = False
_used = False  # a network was compiled in this process


def enable() -> None:
    """Compile every network made from here on (python-torch-compile's entry point calls it)."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def used() -> bool:
    """Whether this process compiled a network (the data tasks compile nothing)."""
    return _used


def compile_net(net: SiameseNet) -> SiameseNet:
    """Replace `net.embed` by its torch.compile'd version when enabled; `net` unchanged if not."""
    global _used
    if not _enabled:
        return net
    import torch

    _used = True
    # An instance attribute shadows the method: forward() and the scorer both call self.embed.
    net.embed = torch.compile(net.embed, backend="inductor", dynamic=False)  # type: ignore[method-assign]
    return net


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process (a recompile in a timed loop shows here)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def compile_metrics(first_s: float, steady_s: float) -> dict[str, float | int]:
    """`compile_s` (first call minus a steady call, never below 0) and `compiled_graphs`; empty
    when compilation is off."""
    if not _enabled:
        return {}
    return {"compile_s": max(0.0, first_s - steady_s), "compiled_graphs": compiled_graphs()}


def pad_batch(images: npt.NDArray[np.uint8], batch: int) -> npt.NDArray[np.uint8]:
    """Packed images padded with blank rows up to `batch` when compiling (one shape, no
    recompile); unchanged otherwise or when already full."""
    if not _enabled or len(images) >= batch:
        return images
    blank = np.zeros((batch - len(images), *images.shape[1:]), dtype=images.dtype)
    return np.concatenate([images, blank])
