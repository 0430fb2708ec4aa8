"""The paper's per-layer SGD with momentum and Adam, written out for jax (docs/protocol.md).

Pure functions of the parameter dict (model.py), its gradients and an optimiser state, traced
into the one compiled training step (nettasks.py). Per tensor, the epoch's hyperparameters come
in as float32 arrays (`Hyper`: `lr`, `momentum`, `l2`), so the schedule changes them without
a recompile; they are built on the host by `hyper_at(spec, epoch)` from the shared per-layer
settings and schedule (oneshot_common.schedule). L2 is coupled and on weights only: a weight's
gradient gets `+ l2 * w`, a bias's `l2` is 0.

- SGD is PyTorch's `SGD(momentum, dampening=0, nesterov=False)`: `v = momentum * v + g'` and
  `w = w - lr * v`. The state starts at v = 0, so the first step sets v = g' exactly as
  PyTorch's first step does (`momentum * 0 + g'` is `g'` in IEEE arithmetic), and momentum 0 is
  plain SGD.
- Adam is PyTorch's `Adam` (no AMSGrad, no decoupled decay): `m = m + (1 - b1) * (g' - m)`,
  `v = b2 * v + (1 - b2) * g'^2`, `w = w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) +
  eps)` at step t = 1, 2, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from oneshot_common.params import OptimizerSpec
from oneshot_common.schedule import layer_settings, lr_at, momentum_at
from oneshot_common.shape import Shape, tensor_shapes

# name -> {"lr", "momentum", "l2"} float32 scalars; the optimiser state is a pytree of arrays.
Hyper = dict[str, dict[str, Any]]
State = dict[str, Any]


def hyper_at(spec: OptimizerSpec, shape: Shape, epoch: int) -> Hyper:
    """Every tensor's learning rate, momentum and L2 weight at the start of `epoch`."""
    hyper: Hyper = {}
    for name in tensor_shapes(shape):
        layer, kind = name.split(".")
        settings = layer_settings(spec, layer)
        hyper[name] = {
            "lr": np.float32(lr_at(spec, settings.lr, epoch)),
            "momentum": np.float32(momentum_at(spec, settings.momentum, epoch)),
            "l2": np.float32(settings.l2 if kind == "weight" else 0.0),
        }
    return hyper


def init_state(spec: OptimizerSpec, params: Mapping[str, Any]) -> State:
    """Zero velocities (SGD) or moments and a step count (Adam), float32 like the weights."""
    zeros = {name: np.zeros(np.shape(value), dtype=np.float32) for name, value in params.items()}
    if spec.name == "adam":
        return {
            "m": zeros,
            "v": {name: z.copy() for name, z in zeros.items()},
            "t": np.zeros((), dtype=np.float32),
        }
    return {"v": zeros}


def update(
    spec: OptimizerSpec,
    params: Mapping[str, jax.Array],
    grads: Mapping[str, jax.Array],
    state: State,
    hyper: Hyper,
) -> tuple[dict[str, jax.Array], State]:
    """One optimiser step (traced): the new parameters and state. `spec.name` and Adam's betas
    and eps are compile-time constants; the per-tensor hyperparameters are arguments."""
    new_params: dict[str, jax.Array] = {}
    if spec.name == "adam":
        beta1, beta2 = (np.float32(b) for b in spec.betas)
        eps = np.float32(spec.eps)
        t = state["t"] + 1.0
        correction1 = 1.0 - beta1**t
        correction2_sqrt = jnp.sqrt(1.0 - beta2**t)
        m_new, v_new = {}, {}
        for name, w in params.items():
            h = hyper[name]
            g = grads[name] + h["l2"] * w
            m = state["m"][name] + (1.0 - beta1) * (g - state["m"][name])
            v = beta2 * state["v"][name] + (1.0 - beta2) * (g * g)
            denom = jnp.sqrt(v) / correction2_sqrt + eps
            new_params[name] = w - (h["lr"] / correction1) * (m / denom)
            m_new[name], v_new[name] = m, v
        return new_params, {"m": m_new, "v": v_new, "t": t}
    velocities = {}
    for name, w in params.items():
        h = hyper[name]
        g = grads[name] + h["l2"] * w
        v = h["momentum"] * state["v"][name] + g
        new_params[name] = w - h["lr"] * v
        velocities[name] = v
    return new_params, {"v": velocities}
