"""The `train` task of python-jax: oneshot_common.training's loop with a JAX `Trainer`.

The loop (data, validation, early stopping, logging, time-to-accuracy, steady-state timing) is
the same as python-torch's (oneshot_common/training.py). The schedule sets each tensor's
learning rate and momentum at the start of every epoch as arguments of the one compiled
training step (network.py, optim.py): no recompile.

Compilation comes first, after the data is loaded: the step for the batch and for the epoch's
short last batch when there is one, and the validation's embedding and head programs
(`compile_s`, inside `wall_s` since it follows the first data touched, never inside
`train_s`). A step's time covers the compiled step and the wait for its loss. The compiled
step returns its weights unchanged on a non-finite loss (it donates its inputs), so the
weights file then holds the best validated weights or the weights before the failing step.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import numpy.typing as npt
from oneshot_common.evaluate import Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netjob import PairSource
from oneshot_common.tasks import Outcome
from oneshot_common.training import TrainingLoop
from oneshot_common.trials import TrialSet

from oneshot_jax import model, optim
from oneshot_jax.evaluate import JaxScorer
from oneshot_jax.nettasks import initial_params, pixels_to_input, threads_metric
from oneshot_jax.network import Network, put
from oneshot_jax.weights import save_tensors


class JaxTrainer:
    """The JAX side of the training loop (oneshot_common.training.Trainer)."""

    def __init__(self, job: Job, loop: TrainingLoop) -> None:
        self.shape, self.spec, self.params, self.events = (
            loop.shape,
            loop.spec,
            loop.params,
            loop.events,
        )
        self.weights: dict[str, jax.Array] = initial_params(job, loop.shape)  # every step's
        self.state = put(optim.init_state(loop.spec, self.weights))
        self.network = Network(loop.shape, loop.spec)
        self.programs: dict[int, Any] = {}
        self.hyper: Any = None

    def scorer(self) -> Scorer:
        return JaxScorer(self.network, lambda: self.weights)

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        epoch_pairs = len(source.fixed[2]) if source.fixed is not None else self.params.pairs
        batch = self.params.batch
        sizes = sorted({min(batch, epoch_pairs), epoch_pairs % batch} - {0}, reverse=True)
        self.hyper = put(optim.hyper_at(self.spec, self.shape, 0))
        with self.events.phase("compile"):
            self.programs = {
                b: self.network.train_step(self.weights, self.state, self.hyper, b) for b in sizes
            }
            if trials is not None:
                assert isinstance(scorer, JaxScorer)
                scorer.prepare(len(trials.images))

    def start_epoch(self, epoch: int) -> None:
        self.hyper = put(optim.hyper_at(self.spec, self.shape, epoch))

    def prepare(
        self, pixels1: npt.NDArray[np.uint8], pixels2: npt.NDArray[np.uint8], labels: Any
    ) -> tuple[Any, ...]:
        x1 = pixels_to_input(pixels1, self.shape.input)
        x2 = pixels_to_input(pixels2, self.shape.input)
        return self.programs[len(labels)], x1, x2, put(labels.astype(np.float32))

    def step(self, batch: tuple[Any, ...]) -> float:
        program, x1, x2, labels = batch
        self.weights, self.state, loss = program(
            self.weights, self.state, self.hyper, x1, x2, labels
        )
        return float(loss)  # waits for the step

    def save(self, path: str) -> None:
        save_tensors(model.to_interchange(self.weights), path)

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        return {}

    def final_metrics(self) -> dict[str, Any]:
        return {"compile_s": self.network.compile_s, "xla_threads": threads_metric()}


def run_train(job: Job, events: Events) -> Outcome:
    loop = TrainingLoop(job, events)
    return loop.run(JaxTrainer(job, loop))
