"""Parameters of the network tasks and the job's `optimizer` and `augment` sections (no torch).

These dataclasses are read by `job.from_dict`, which rejects unknown keys by their path and
checks the bounds given here; `check_optimizer` adds the checks a bound cannot express. They
are the Python side of docs/protocol.md, "Network tasks"; defaults are documented there.
Importing this module must stay cheap: job parsing happens before torch is imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from oneshot_common.errors import InputError
from oneshot_common.job import PARAMS, Job, bounds, from_dict


@dataclass(frozen=True)
class LayerOptim:
    """Per-layer overrides of the optimiser's lr, final momentum and L2 weight."""

    lr: float | None = field(default=None, metadata=bounds(0.0, 10.0))
    momentum: float | None = field(default=None, metadata=bounds(0.0, 0.999))
    l2: float | None = field(default=None, metadata=bounds(0.0, 1.0))


@dataclass(frozen=True)
class LayersOptim:
    conv1: LayerOptim | None = None
    conv2: LayerOptim | None = None
    conv3: LayerOptim | None = None
    conv4: LayerOptim | None = None
    fc1: LayerOptim | None = None
    out: LayerOptim | None = None


@dataclass(frozen=True)
class OptimizerSpec:
    """The job's top-level `optimizer` (used by `step` and `train`)."""

    name: Literal["sgd", "adam"] = "sgd"
    lr: float = field(default=0.01, metadata=bounds(0.0, 10.0))
    momentum: float = field(default=0.9, metadata=bounds(0.0, 0.999))
    momentum_start: float = field(default=0.5, metadata=bounds(0.0, 0.999))
    momentum_epochs: int = field(default=10, metadata=bounds(0, 1_000_000))
    l2: float = field(default=2e-4, metadata=bounds(0.0, 1.0))
    lr_decay: float = field(default=0.01, metadata=bounds(0.0, 0.999))
    betas: tuple[float, ...] = field(
        default=(0.9, 0.999), metadata={**bounds(0.0, 0.9999), "length": 2}
    )
    eps: float = field(default=1e-8, metadata=bounds(1e-12, 1.0))
    layers: LayersOptim | None = None


def check_optimizer(spec: OptimizerSpec) -> None:
    """Checks beyond the bounds: learning rates must be positive."""
    if spec.lr <= 0.0:
        raise InputError(f"optimizer.lr: {spec.lr} is out of range, expected a value > 0")
    if spec.layers is not None:
        for layer in ("conv1", "conv2", "conv3", "conv4", "fc1", "out"):
            override = getattr(spec.layers, layer)
            if override is not None and override.lr is not None and override.lr <= 0.0:
                raise InputError(
                    f"optimizer.layers.{layer}.lr: {override.lr} is out of range, "
                    "expected a value > 0"
                )


@dataclass(frozen=True)
class AugmentSpec:
    """The job's top-level `augment`: the paper's affine distortions (implemented in augment.py)."""

    enabled: bool = False
    copies: int = field(default=8, metadata=bounds(0, 1000))
    probability: float = field(default=0.5, metadata=bounds(0.0, 1.0))
    rotation_deg: float = field(default=10.0, metadata=bounds(0.0, 180.0))
    shear: float = field(default=0.3, metadata=bounds(0.0, 1.0))
    scale: tuple[float, ...] = field(
        default=(0.8, 1.2), metadata={**bounds(0.1, 10.0), "length": 2}
    )
    translate_px: float = field(default=2.0, metadata=bounds(0.0, 52.0))


@dataclass(frozen=True)
class InitParams:
    """`init`: write initial weights for `model`, seeded from the job seed."""

    init: Literal["paper", "he"] = "paper"


@dataclass(frozen=True)
class ForwardParams:
    batch: int = field(default=64, metadata=bounds(1, 1_000_000))
    warmup_batches: int = field(default=1, metadata=bounds(0, 1_000_000))


@dataclass(frozen=True)
class StepParams:
    steps: int = field(default=10, metadata=bounds(1, 1_000_000))
    batch: int = field(default=32, metadata=bounds(1, 1_000_000))
    save_gradients: bool = False
    init: Literal["paper", "he"] = "paper"
    warmup_steps: int = field(default=1, metadata=bounds(0, 1_000_000))


@dataclass(frozen=True)
class ValidationSpec:
    ways: int = field(default=20, metadata=bounds(2, 1000))
    trials: int = field(default=400, metadata=bounds(1, 1_000_000))


@dataclass(frozen=True)
class TrainParams:
    epochs: int = field(default=10, metadata=bounds(1, 1_000_000))
    batch: int = field(default=32, metadata=bounds(1, 1_000_000))
    pairs: int = field(default=30_000, metadata=bounds(1, 100_000_000))
    same_alphabet: float = field(default=0.5, metadata=bounds(0.0, 1.0))
    validate_every_steps: int = field(default=0, metadata=bounds(0, 100_000_000))
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    patience: int = field(default=0, metadata=bounds(0, 1_000_000))
    target_accuracy: float | None = field(default=None, metadata=bounds(0.0, 1.0))
    max_seconds: float | None = field(default=None, metadata=bounds(0.0, 1e9))
    log_every_steps: int = field(default=50, metadata=bounds(1, 100_000_000))
    init: Literal["paper", "he"] = "paper"
    warmup_steps: int = field(default=1, metadata=bounds(0, 1_000_000))


NET_PARAMS: dict[str, type] = {
    "init": InitParams,
    "forward": ForwardParams,
    "step": StepParams,
    "train": TrainParams,
}

PARAMS.update(NET_PARAMS)


def parse_sections(job: Job) -> Job:
    """Turn the raw `optimizer` and `augment` objects of a job into their dataclasses."""
    optimizer = job.optimizer
    if optimizer is not None:
        optimizer = from_dict(OptimizerSpec, optimizer, "optimizer")
        check_optimizer(optimizer)
    augment = job.augment
    if augment is not None:
        augment = from_dict(AugmentSpec, augment, "augment")
        low, high = augment.scale
        if low > high:
            raise InputError(f"augment.scale: [{low}, {high}], expected lo <= hi")
    return dataclasses.replace(job, optimizer=optimizer, augment=augment)
