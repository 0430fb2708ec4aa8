"""The optimiser's per-layer settings and the paper's schedule, framework-free (docs/protocol.md).

Each layer j has a learning rate lr_j, a final SGD momentum mu_j and an L2 weight l2_j: the
layer's override in `optimizer.layers`, else the optimiser's default (`layer_settings`). At the
start of epoch e (epochs count from 0), before its first step:

    lr(e)       = lr_j * (1 - lr_decay) ** e
    momentum(e) = momentum_start + (mu_j - momentum_start) * min(1, e / momentum_epochs)

(`momentum_epochs` 0: mu_j from the start). Adam ignores the momentum settings. L2 applies to
weights only, never biases. The update rules themselves are each implementation's
(oneshot_torch.optim: torch.optim; oneshot_jax.optim: hand-written).
"""

from __future__ import annotations

from dataclasses import dataclass

from oneshot_common.params import LayerOptim, OptimizerSpec


@dataclass(frozen=True)
class LayerSettings:
    lr: float
    momentum: float
    l2: float


def layer_settings(spec: OptimizerSpec, layer: str) -> LayerSettings:
    """The layer's lr, final momentum and L2 weight: the override if given, else the default."""
    override = getattr(spec.layers, layer, None) if spec.layers is not None else None
    override = override if isinstance(override, LayerOptim) else LayerOptim()
    return LayerSettings(
        lr=override.lr if override.lr is not None else spec.lr,
        momentum=override.momentum if override.momentum is not None else spec.momentum,
        l2=override.l2 if override.l2 is not None else spec.l2,
    )


def lr_at(spec: OptimizerSpec, base_lr: float, epoch: int) -> float:
    """The learning rate of a layer whose epoch-0 rate is `base_lr`, at `epoch`."""
    return base_lr * (1.0 - spec.lr_decay) ** epoch


def momentum_at(spec: OptimizerSpec, final: float, epoch: int) -> float:
    """SGD momentum at `epoch` of a layer whose final momentum is `final`."""
    if spec.momentum_epochs == 0:
        return final
    ramp = min(1.0, epoch / spec.momentum_epochs)
    return spec.momentum_start + (final - spec.momentum_start) * ramp
