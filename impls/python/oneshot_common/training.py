"""The `train` task's loop, shared by every Python framework: data, validation, early stopping,
logging, time-to-accuracy and steady-state timing (docs/protocol.md, "`train`").

Data: every epoch draws `params.pairs` fresh pairs from `dataset.root` with one generator
`Rng(seed, "pairs")` that continues across epochs (epoch 0 is exactly what `sample` writes for
the same seed), or, with `inputs.pairs`, uses that list every epoch in an order shuffled by
`Rng(seed, "shuffle")` (Fisher-Yates from the end: `j = below(i + 1)`, swap): netjob.PairSource.
Images are decoded once. With `augment.enabled`, each epoch also presents `augment.copies`
distorted passes over its pairs (augment.py, `Rng(seed, "augment")`, left images then right per
batch). Batches of `batch` pairs are taken in order; the last short batch of an epoch is used
as it is.

The optimiser's schedule is applied at the start of each epoch. Validation (20-way one-shot
accuracy on `dataset.eval_root` with Koch's trials, drawn once with `Rng(seed, "trials")`, and
the scoring of evaluate.py) runs every `validate_every_steps` steps and at the end of training,
or at the end of every epoch when that is 0. The best validation weights are written to
`weights.safetensors` (the final weights without an `eval_root`). Training stops after
`epochs`, after `patience` validations without improvement, when `target_accuracy` is reached,
or after `max_seconds`. A NaN or infinite loss stops it with a TaskError; the weights file then
holds the best validated weights or, if none yet, the weights before the failing step.

A framework supplies only its `Network` (network.py): the scorer, its optional compilation
after the data is loaded, the schedule, one batch's inputs (untimed) and one optimiser step
(timed), saving the weights and its own metrics (oneshot_torch.nettasks, oneshot_jax.nettasks).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

from oneshot_common.data import unpack_bits
from oneshot_common.errors import TaskError
from oneshot_common.evaluate import Scorer, evaluate_one_shot
from oneshot_common.events import Events
from oneshot_common.flops import train_pair_flop
from oneshot_common.job import Job
from oneshot_common.netjob import WEIGHTS_FILE, PairSource, StepClock, check_train, optimizer_spec
from oneshot_common.network import Network
from oneshot_common.params import TrainParams
from oneshot_common.rng import Rng
from oneshot_common.sampling import scan_dataset
from oneshot_common.shape import network_shape
from oneshot_common.tasks import Outcome
from oneshot_common.trials import TrialSet, draw_koch_trials, load_trials


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class TrainingLoop:
    """One `train` task: `TrainingLoop(job, events)` reads its settings, `run(trainer)` trains."""

    def __init__(self, job: Job, events: Events) -> None:
        self.job, self.events = job, events
        self.params: TrainParams = job.params
        self.shape = network_shape(job)
        self.spec = optimizer_spec(job)
        self.augment = check_train(job, self.params)
        self.weights_path = os.path.join(job.out_dir, WEIGHTS_FILE)
        self.step, self.pairs_seen, self.validation_s = 0, 0, 0.0
        self.best, self.stale = -1.0, 0
        self.last_accuracy: float | None = None
        self.time_to_accuracy_s: float | None = None
        self.stop, self.validated_at = "", -1
        self.data_start = 0.0

    def run(self, trainer: Network) -> Outcome:
        job, events, params = self.job, self.events, self.params
        augment = self.augment
        if augment is not None:
            from oneshot_common.augment import distort_batch

            augment_rng = Rng(job.seed, "augment")

        self.data_start = time.perf_counter()  # time-to-accuracy counts from the first data
        with events.phase("load"):
            trials, scorer = None, None
            if job.dataset.eval_root is not None:  # first: a bad eval set fails before the load
                ways, count = params.validation.ways, params.validation.trials
                eval_set = scan_dataset(job.dataset.eval_root)
                drawn = draw_koch_trials(eval_set, ways, count, Rng(job.seed, "trials"))
                trials = load_trials(job.dataset.eval_root, drawn)
                scorer = trainer.scorer()
            source = PairSource(job, params)
        trainer.compile(source, trials, scorer)

        clock = StepClock(params.warmup_steps)
        epochs_run, epoch_losses = 0, []
        passes = 1 + (augment.copies if augment is not None else 0)
        _log(f"{'epoch':>5}  {'loss':>8}  {'accuracy':>8}  {'seconds':>8}")
        with events.phase("train"):
            for epoch in range(params.epochs):
                epoch_start = time.perf_counter()
                trainer.start_epoch(epoch)
                left, right, labels_np = source.epoch()
                n, losses = len(labels_np), []
                window: list[float] = []
                for pass_index in range(passes):
                    for start in range(0, n, params.batch):
                        rows = slice(start, min(start + params.batch, n))
                        pixels1 = unpack_bits(source.images[left[rows]])  # uint8 [B, 105, 105]
                        pixels2 = unpack_bits(source.images[right[rows]])
                        if augment is not None and pass_index > 0:  # left, then right
                            pixels1 = distort_batch(pixels1, augment_rng, augment)
                            pixels2 = distort_batch(pixels2, augment_rng, augment)
                        batch = trainer.prepare(pixels1, pixels2, labels_np[rows])
                        began = time.perf_counter()
                        value = trainer.step(batch)
                        elapsed = time.perf_counter() - began
                        if not math.isfinite(value):
                            if self.best < 0:  # no validated weights yet: the last good ones
                                trainer.save(self.weights_path)
                            raise TaskError(
                                f"epoch {epoch} step {self.step}: loss is {value}, training "
                                f"stopped; {WEIGHTS_FILE} holds the last good weights (lower "
                                "the learning rate?)"
                            )
                        size = len(labels_np[rows])
                        self.pairs_seen += size
                        clock.add(elapsed, size)
                        self.step += 1
                        losses.append(value)
                        window.append(value)
                        if len(window) >= params.log_every_steps:
                            mean = sum(window) / len(window)
                            events.metric("loss", mean, step=self.step, epoch=epoch)
                            window = []
                        every = params.validate_every_steps
                        if every and self.step % every == 0:
                            self._validate(trainer, trials, scorer, epoch)
                        if not self.stop and self._out_of_time():
                            self.stop = f"max_seconds {params.max_seconds} reached"
                        if self.stop:
                            break
                    if self.stop:
                        break
                epochs_run += 1
                epoch_losses.append(sum(losses) / len(losses))
                last = self.stop or epoch == params.epochs - 1
                if (not params.validate_every_steps or last) and self.validated_at != self.step:
                    self._validate(trainer, trials, scorer, epoch)
                accuracy = self.last_accuracy
                shown = f"{accuracy:8.2%}" if accuracy is not None else f"{'-':>8}"
                seconds = time.perf_counter() - epoch_start
                _log(f"{epoch:5d}  {epoch_losses[-1]:8.4f}  {shown}  {seconds:8.1f}")
                if self.stop:
                    _log(f"stopped: {self.stop}")
                    break

        with events.phase("write"):
            if trials is None:
                trainer.save(self.weights_path)
        return self._outcome(trainer, clock, epochs_run, epoch_losses)

    def _outcome(
        self, trainer: Network, clock: StepClock, epochs_run: int, epoch_losses: list[float]
    ) -> Outcome:
        """The task's metrics once training has stopped and the weights are written."""
        train_s, timed_pairs, timed_steps = clock.steady()  # warm-up steps left out
        pairs_per_s = timed_pairs / train_s if train_s > 0 else 0.0
        metrics: dict[str, Any] = {
            "epochs_run": epochs_run,
            "steps": self.step,
            "train_pairs": self.pairs_seen,
            "train_s": train_s,
            "validation_s": self.validation_s,
            "wall_s": time.perf_counter() - self.data_start,
            "train_pairs_per_s": pairs_per_s,
            "first_batch_s": clock.first_s,
            **trainer.timing_metrics(clock.first_s, train_s / max(1, timed_steps)),
            "gflop_per_s": pairs_per_s * train_pair_flop(self.shape) / 1e9,
            "epoch_losses": epoch_losses,
            **trainer.final_metrics(),
        }
        if self.last_accuracy is not None:
            metrics["final_val_accuracy"] = self.last_accuracy
            metrics["best_val_accuracy"] = self.best
        if self.time_to_accuracy_s is not None:
            metrics["time_to_accuracy_s"] = self.time_to_accuracy_s
        return Outcome(metrics=metrics, outputs={"weights": WEIGHTS_FILE})

    def _validate(
        self, trainer: Network, trials: TrialSet | None, scorer: Scorer | None, epoch: int
    ) -> None:
        if trials is None or scorer is None:
            return
        params = self.params
        self.validated_at = self.step
        began = time.perf_counter()
        with self.events.phase("evaluate"):
            accuracy = evaluate_one_shot(scorer, trials)
        self.validation_s += time.perf_counter() - began
        self.last_accuracy = accuracy
        self.events.metric("val_accuracy", accuracy, step=self.step, epoch=epoch)
        if accuracy > self.best:
            self.best, self.stale = accuracy, 0
            trainer.save(self.weights_path)
        else:
            self.stale += 1
            if params.patience and self.stale >= params.patience:
                self.stop = f"no improvement in {self.stale} validations"
        target = params.target_accuracy
        if target is not None and accuracy >= target and self.time_to_accuracy_s is None:
            self.time_to_accuracy_s = time.perf_counter() - self.data_start
            self.stop = f"target accuracy {target} reached"

    def _out_of_time(self) -> bool:
        limit = self.params.max_seconds
        return limit is not None and time.perf_counter() - self.data_start >= limit
