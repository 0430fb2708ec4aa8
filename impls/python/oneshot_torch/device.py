"""Where the network computes: the job's optional `device`, "cpu" (default) or "cuda".

`check_device(name)` runs before any work (tasks.run_task): `device: cuda` without a CUDA
device torch can see is an `InputError` in one line. With "cuda", the network tasks (forward,
step, train, evaluate with `scorer: siamese`) keep the network, the inputs and the labels on
`torch.device("cuda")` (torch's current CUDA device); initial weights are drawn or loaded on the
CPU first and weights and outputs are written from CPU copies, so files do not depend on the
device. `synchronize` waits for the queued CUDA kernels before a timed section reads the clock;
on the CPU it does nothing, so the CPU path runs exactly as without this module. `threads`
still sets torch's CPU threads. `device_versions` names the GPU for result.json's `versions`.

Data tasks (sample, load, augment), `init` and the `mhd` scorer always run on the CPU.
The CUDA path has not been run on a real GPU yet: it was written on a machine without one.
"""

from __future__ import annotations

import torch
from oneshot_common.errors import InputError

CPU = torch.device("cpu")


def check_device(name: str) -> None:
    """Fail before any work when the job asks for a device torch cannot use."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "device: cuda requested but torch sees no CUDA device "
            "(torch.cuda.is_available() is False); expected device: cpu"
        )


def torch_device(name: str) -> torch.device:
    """The job's `device` as a torch.device ("cuda" = torch's current CUDA device)."""
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for every queued kernel on a CUDA device; a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_versions(device: torch.device) -> dict[str, str]:
    """What result.json's `versions` records about a CUDA device (nothing for the CPU)."""
    if device.type != "cuda":
        return {}
    return {
        "device": "cuda",
        "cuda_device": torch.cuda.get_device_name(device),
        "torch_cuda": str(torch.version.cuda),
    }


def net_device(net: torch.nn.Module) -> torch.device:
    """The device of a network's parameters."""
    return next(net.parameters()).device
