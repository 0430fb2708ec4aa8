"""Parameters of the `evaluate` and `augment` tasks (docs/protocol.md; no numpy, no torch).

Importing this module registers both tasks in `job.PARAMS`, so that `job.parse_job` checks
their `params` (unknown keys, types, bounds) before any work starts. The checks that involve
more than one field (`protocol: lake` needs `runs`, ...) are in `check_evaluate`.
The distortion ranges of `augment` live in the job's top-level `augment` section
(`netparams.AugmentSpec`); the `augment` task itself has no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from oneshot_common.errors import InputError
from oneshot_common.job import PARAMS, Job, bounds


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate`: N-way one-shot accuracy (docs/evaluation.md)."""

    protocol: Literal["koch", "lake"] = "koch"
    ways: int = field(default=20, metadata=bounds(2, 1000))
    trials: int = field(default=400, metadata=bounds(1, 10_000_000))  # koch only
    runs: str | None = field(default=None, metadata={"non_empty": True})  # lake: all_runs folder
    scorer: Literal["siamese", "mhd"] = "siamese"
    batch: int = field(default=128, metadata=bounds(1, 1_000_000))  # images per embedding call
    warmup_batches: int = field(default=1, metadata=bounds(0, 1_000_000))  # untimed first calls


@dataclass(frozen=True)
class AugmentParams:
    """`augment`: distort the images of `inputs.pairs` with the job's `augment` section."""


def check_evaluate(job: Job) -> EvaluateParams:
    """The cross-field checks of `evaluate`; returns its params."""
    params: EvaluateParams = job.params
    if params.protocol == "koch" and job.dataset.eval_root is None:
        raise InputError(
            "dataset.eval_root: null, expected the evaluation alphabets' folder for protocol: koch"
        )
    if params.protocol == "lake" and params.runs is None:
        raise InputError("params.runs: missing, expected the all_runs folder for protocol: lake")
    if params.scorer == "siamese":
        if job.model is None:
            raise InputError("model: null, expected the network shape for scorer: siamese")
        if job.inputs.weights is None:
            raise InputError("inputs.weights: null, expected a weights file for scorer: siamese")
    return params


PARAMS.update({"evaluate": EvaluateParams, "augment": AugmentParams})
