"""What the network tasks read from a job and the files they write, framework-free.

Shared by every Python implementation's `init`, `forward`, `step`, `train` and `evaluate`
(docs/protocol.md, "Network tasks"): the optimiser section with its defaults
(`optimizer_spec`), the packed images of `inputs.pairs` (`read_pair_images`), the pair indices
of a `step` (`wrap_indices`, in order and wrapping), the checks of `train` that need more than
one field (`check_train`), and `PairSource`, the epochs of pairs a `train` task trains on. The
network shape is oneshot_common.shape's `network_shape`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from oneshot_common.data import load_dataset, load_pairs
from oneshot_common.errors import InputError
from oneshot_common.job import Job
from oneshot_common.params import AugmentSpec, OptimizerSpec, TrainParams, check_optimizer
from oneshot_common.rng import Rng
from oneshot_common.sampling import check_can_sample, read_pairs, sample_pairs, scan_dataset

WEIGHTS_FILE = "weights.safetensors"
OUTPUTS_FILE = "outputs.safetensors"
GRADS_FILE = "grads.safetensors"

Packed = npt.NDArray[np.uint8]
Index = npt.NDArray[np.intp]


def optimizer_spec(job: Job) -> OptimizerSpec:
    """The job's `optimizer` section, or the defaults when it has none."""
    spec = getattr(job, "optimizer", None)
    spec = spec if isinstance(spec, OptimizerSpec) else OptimizerSpec()
    check_optimizer(spec)
    return spec


def read_pair_images(job: Job) -> tuple[Packed, Packed, Packed]:
    """Packed left, right images [N, 1379] and labels [N] of `inputs.pairs` (required)."""
    if job.inputs.pairs is None:
        raise InputError(f"inputs.pairs: null, expected a pair file for task {job.task}")
    pairs = read_pairs(job.inputs.pairs, job.dataset.root)
    if not pairs:
        raise InputError(f"{job.inputs.pairs}: no pairs, expected at least one")
    return load_pairs(job.dataset.root, pairs)


def wrap_indices(start: int, count: int, total: int) -> Index:
    """Indices start .. start+count-1 modulo total (pairs used in order, wrapping)."""
    return (np.arange(start, start + count, dtype=np.intp)) % total


def check_train(job: Job, params: TrainParams) -> AugmentSpec | None:
    """Checks of `train` that need more than one field, before any work starts; returns the
    job's `augment` section when distortions are enabled."""
    needs_validation = params.target_accuracy is not None or params.patience > 0
    if needs_validation and job.dataset.eval_root is None:
        raise InputError(
            "dataset.eval_root: null, expected an evaluation folder when params.target_accuracy "
            "or params.patience is set (validation needs one-shot trials)"
        )
    augment = job.augment if isinstance(job.augment, AugmentSpec) else None
    return augment if augment is not None and augment.enabled else None


class PairSource:
    """Yields each epoch's pairs as (left index, right index, labels) into one image table."""

    def __init__(self, job: Job, params: TrainParams) -> None:
        self.params = params
        if job.inputs.pairs is not None:
            pairs = read_pairs(job.inputs.pairs, job.dataset.root)
            if not pairs:
                raise InputError(f"{job.inputs.pairs}: no pairs, expected at least one")
            left, right, labels = load_pairs(job.dataset.root, pairs)
            self.images = np.concatenate((left, right))
            n = len(pairs)
            self.fixed: tuple[Index, Index, npt.NDArray[np.uint8]] | None = (
                np.arange(n, dtype=np.intp),
                np.arange(n, 2 * n, dtype=np.intp),
                labels,
            )
            self.rng = Rng(job.seed, "shuffle")
        else:
            self.dataset = scan_dataset(job.dataset.root)
            check_can_sample(self.dataset, params.same_alphabet)
            self.images = load_dataset(self.dataset)
            self.index = {p: k for k, p in enumerate(self.dataset.image_paths())}
            self.fixed = None
            self.rng = Rng(job.seed, "pairs")

    def epoch(self) -> tuple[Index, Index, npt.NDArray[np.uint8]]:
        if self.fixed is not None:
            left, right, labels = self.fixed
            order = np.arange(len(labels), dtype=np.intp)
            for i in range(len(order) - 1, 0, -1):
                j = self.rng.below(i + 1)
                order[i], order[j] = order[j], order[i]
            return left[order], right[order], labels[order]
        pairs = sample_pairs(self.dataset, self.params.pairs, self.params.same_alphabet, self.rng)
        left = np.array([self.index[a] for a, _, _ in pairs], dtype=np.intp)
        right = np.array([self.index[b] for _, b, _ in pairs], dtype=np.intp)
        return left, right, np.array([y for _, _, y in pairs], dtype=np.uint8)


class StepClock:
    """The timing of a training loop's steps in steady state (docs/protocol.md, "Steady state
    and cold start"): step 0's seconds, and the rate over the steps after the first `warmup`
    steps, or over every step when the run has no more than that."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.steps, self.total_s, self.pairs = 0, 0.0, 0
        self.warmup_s, self.warmup_pairs, self.first_s = 0.0, 0, 0.0

    def add(self, elapsed_s: float, pairs: int) -> None:
        """One step that trained `pairs` pairs in `elapsed_s` seconds."""
        if self.steps == 0:
            self.first_s = elapsed_s
        if self.steps < self.warmup:
            self.warmup_s += elapsed_s
            self.warmup_pairs += pairs
        self.steps += 1
        self.total_s += elapsed_s
        self.pairs += pairs

    def steady(self) -> tuple[float, int, int]:
        """(seconds, pairs, steps) of the timed steps."""
        if self.steps > self.warmup:
            return (
                self.total_s - self.warmup_s,
                self.pairs - self.warmup_pairs,
                self.steps - self.warmup,
            )
        return self.total_s, self.pairs, self.steps
