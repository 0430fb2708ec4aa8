"""Optimisers of the paper (SGD with momentum, per-layer settings and schedules) and Adam.

`build_optimizer(net, spec)` makes one parameter group per tensor so each layer has its own
learning rate, momentum and L2 weight (Koch et al. 2015, section 4.2). L2 is applied as
coupled weight decay on weights only, never on biases: the gradient of a weight w gets
`+ l2 * w` (a loss term `l2/2 * |w|^2`); the loss that is reported is the plain BCE.

`Schedule.apply(epoch)` sets the epoch's values before its first step (epochs count from 0;
the per-layer settings and the schedule's formulas are oneshot_common.schedule's):
- learning rate `lr_j * (1 - lr_decay) ** epoch` (the paper decays by 1% per epoch);
- SGD momentum `m0 + (mu_j - m0) * min(1, epoch / momentum_epochs)` with m0 = momentum_start
  (the paper starts at 0.5 and rises linearly to the final mu_j); momentum_epochs 0 means mu_j
  from the start. Adam ignores the momentum settings and uses `betas`.
SGD is torch's `SGD(nesterov=False, dampening=0)`: v = mu*v + g, w -= lr*v (the first step sets
v = g). Both optimisers use torch's fused CPU kernels when available (faster than foreach).
"""

from __future__ import annotations

import torch
from oneshot_common.params import OptimizerSpec
from oneshot_common.schedule import layer_settings, lr_at, momentum_at

from oneshot_torch.model import SiameseNet


def _fused_ok() -> bool:
    """Fused optimisers on CPU exist from torch 2.4; probe once instead of parsing versions."""
    try:
        probe = torch.nn.Parameter(torch.zeros(1))
        torch.optim.SGD([probe], lr=0.1, momentum=0.5, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def build_optimizer(net: SiameseNet, spec: OptimizerSpec) -> torch.optim.Optimizer:
    """One group per parameter tensor, tagged with its layer and kind (weight / bias)."""
    groups: list[dict[str, object]] = []
    for name, param in net.named_parameters():
        layer, kind = name.split(".")
        settings = layer_settings(spec, layer)
        groups.append(
            {
                "params": [param],
                "lr": settings.lr,
                "weight_decay": settings.l2 if kind == "weight" else 0.0,
                "layer": layer,
                "name": name,
            }
        )
    fused = _fused_ok() and all(p.device.type in ("cpu", "cuda") for p in net.parameters())
    if spec.name == "adam":
        beta1, beta2 = spec.betas
        return torch.optim.Adam(
            groups,
            lr=spec.lr,
            betas=(beta1, beta2),
            eps=spec.eps,
            fused=fused or None,
        )
    return torch.optim.SGD(
        groups,
        lr=spec.lr,
        momentum=spec.momentum_start,
        fused=fused or None,
    )


class Schedule:
    """Per-epoch learning rate decay and momentum ramp (see the module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer, spec: OptimizerSpec) -> None:
        self.optimizer = optimizer
        self.spec = spec

    def apply(self, epoch: int) -> None:
        for group in self.optimizer.param_groups:
            settings = layer_settings(self.spec, group["layer"])
            group["lr"] = lr_at(self.spec, settings.lr, epoch)
            if self.spec.name == "sgd":
                group["momentum"] = momentum_at(self.spec, settings.momentum, epoch)
