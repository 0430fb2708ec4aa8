"""The `train` task of python-jax: training with validation, early stopping and the best weights.

The same task as python-torch's (docs/protocol.md, "`train`"): the epochs of pairs come from
oneshot_common.netjob's `PairSource` (fresh `Rng(seed, "pairs")` draws per epoch, or
`inputs.pairs` shuffled by `Rng(seed, "shuffle")`), the distortions from oneshot_common.augment
(`Rng(seed, "augment")`, left images then right per batch), the validation trials and their
scoring from oneshot_common (Koch's trials drawn once with `Rng(seed, "trials")`). The schedule
sets each tensor's learning rate and momentum at the start of every epoch as arguments of the
one compiled training step (network.py, optim.py): no recompile.

Compilation comes first, after the data is loaded: the step for the batch and for the epoch's
short last batch when there is one, and the validation's embedding and head programs
(`compile_s`, inside `wall_s` since it follows the first data touched, never inside
`train_s`). A NaN or infinite loss stops training with a TaskError; the weights file then
holds the best validated weights or, if none yet, the weights before the failing step (the
compiled step returns its weights unchanged on a non-finite loss: it donates its inputs).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import jax
import numpy as np
from oneshot_common.augment import distort_batch
from oneshot_common.data import unpack_bits
from oneshot_common.errors import TaskError
from oneshot_common.evaluate import evaluate_one_shot
from oneshot_common.events import Events
from oneshot_common.flops import train_pair_flop
from oneshot_common.job import Job
from oneshot_common.netjob import (
    WEIGHTS_FILE,
    PairSource,
    StepClock,
    check_train,
    optimizer_spec,
)
from oneshot_common.params import TrainParams
from oneshot_common.rng import Rng
from oneshot_common.sampling import scan_dataset
from oneshot_common.shape import network_shape
from oneshot_common.tasks import Outcome
from oneshot_common.trials import draw_koch_trials, load_trials

from oneshot_jax import model, optim
from oneshot_jax.evaluate import JaxScorer
from oneshot_jax.nettasks import initial_params, pixels_to_input, threads_metric
from oneshot_jax.network import Network, put
from oneshot_jax.weights import save_tensors


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_train(job: Job, events: Events) -> Outcome:
    params: TrainParams = job.params
    shape = network_shape(job)
    spec = optimizer_spec(job)
    augment = check_train(job, params)
    weights = {"params": initial_params(job, shape)}  # replaced by every step's output
    state = put(optim.init_state(spec, weights["params"]))
    network = Network(shape, spec)
    weights_path = os.path.join(job.out_dir, WEIGHTS_FILE)
    augment_rng = Rng(job.seed, "augment")

    def save(current: dict[str, jax.Array]) -> None:
        save_tensors(model.to_interchange(current), weights_path)

    data_start = time.perf_counter()  # time-to-accuracy counts from the first data touched
    with events.phase("load"):
        trials = None
        if job.dataset.eval_root is not None:  # first: a bad eval set fails before the big load
            ways, count = params.validation.ways, params.validation.trials
            eval_set = scan_dataset(job.dataset.eval_root)
            drawn = draw_koch_trials(eval_set, ways, count, Rng(job.seed, "trials"))
            trials = load_trials(job.dataset.eval_root, drawn)
        scorer = JaxScorer(network, lambda: weights["params"])
        source = PairSource(job, params)

    epoch_pairs = len(source.fixed[2]) if source.fixed is not None else params.pairs
    batch = params.batch
    sizes = sorted({min(batch, epoch_pairs), epoch_pairs % batch} - {0}, reverse=True)
    hyper = put(optim.hyper_at(spec, shape, 0))
    with events.phase("compile"):
        programs = {b: network.train_step(weights["params"], state, hyper, b) for b in sizes}
        if trials is not None:
            scorer.prepare(len(trials.images))

    step, pairs_seen, validation_s = 0, 0, 0.0
    clock = StepClock(params.warmup_steps)
    best, last_accuracy, stale, time_to_accuracy_s = -1.0, None, 0, None
    epochs_run, stop, epoch_losses = 0, "", []
    passes = 1 + (augment.copies if augment is not None else 0)

    validated_at = -1

    def validate(epoch: int) -> None:
        nonlocal best, last_accuracy, stale, time_to_accuracy_s, validation_s, stop, validated_at
        if trials is None:
            return
        validated_at = step
        began = time.perf_counter()
        with events.phase("evaluate"):
            accuracy = evaluate_one_shot(scorer, trials)
        validation_s += time.perf_counter() - began
        last_accuracy = accuracy
        events.metric("val_accuracy", accuracy, step=step, epoch=epoch)
        if accuracy > best:
            best, stale = accuracy, 0
            save(weights["params"])
        else:
            stale += 1
            if params.patience and stale >= params.patience:
                stop = f"no improvement in {stale} validations"
        target = params.target_accuracy
        if target is not None and accuracy >= target and time_to_accuracy_s is None:
            time_to_accuracy_s = time.perf_counter() - data_start
            stop = f"target accuracy {target} reached"

    def out_of_time() -> bool:
        limit = params.max_seconds
        return limit is not None and time.perf_counter() - data_start >= limit

    _log(f"{'epoch':>5}  {'loss':>8}  {'accuracy':>8}  {'seconds':>8}")
    with events.phase("train"):
        for epoch in range(params.epochs):
            epoch_start = time.perf_counter()
            hyper = put(optim.hyper_at(spec, shape, epoch))
            left, right, labels_np = source.epoch()
            n, losses = len(labels_np), []
            window: list[float] = []
            for pass_index in range(passes):
                for start in range(0, n, batch):
                    rows = slice(start, min(start + batch, n))
                    pixels1 = unpack_bits(source.images[left[rows]])  # uint8 [B, 105, 105]
                    pixels2 = unpack_bits(source.images[right[rows]])
                    if augment is not None and pass_index > 0:  # left, then right (augment.md)
                        pixels1 = distort_batch(pixels1, augment_rng, augment)
                        pixels2 = distort_batch(pixels2, augment_rng, augment)
                    x1 = pixels_to_input(pixels1, shape.input)
                    x2 = pixels_to_input(pixels2, shape.input)
                    labels = put(labels_np[rows].astype(np.float32))
                    program = programs[len(labels_np[rows])]
                    began = time.perf_counter()
                    weights["params"], state, loss = program(
                        weights["params"], state, hyper, x1, x2, labels
                    )
                    value = float(loss)  # waits for the step
                    elapsed = time.perf_counter() - began
                    if not math.isfinite(value):
                        if best < 0:  # no validated weights yet: keep the last good ones
                            save(weights["params"])  # unchanged by the failing step
                        raise TaskError(
                            f"epoch {epoch} step {step}: loss is {value}, training stopped; "
                            f"{WEIGHTS_FILE} holds the last good weights (lower the learning rate?)"
                        )
                    pairs_seen += len(labels_np[rows])
                    clock.add(elapsed, len(labels_np[rows]))
                    step += 1
                    losses.append(value)
                    window.append(value)
                    if len(window) >= params.log_every_steps:
                        events.metric("loss", sum(window) / len(window), step=step, epoch=epoch)
                        window = []
                    if params.validate_every_steps and step % params.validate_every_steps == 0:
                        validate(epoch)
                    if not stop and out_of_time():
                        stop = f"max_seconds {params.max_seconds} reached"
                    if stop:
                        break
                if stop:
                    break
            epochs_run += 1
            epoch_losses.append(sum(losses) / len(losses))
            last = stop or epoch == params.epochs - 1
            if (not params.validate_every_steps or last) and validated_at != step:
                validate(epoch)
            shown = f"{last_accuracy:8.2%}" if last_accuracy is not None else f"{'-':>8}"
            seconds = time.perf_counter() - epoch_start
            _log(f"{epoch:5d}  {epoch_losses[-1]:8.4f}  {shown}  {seconds:8.1f}")
            if stop:
                _log(f"stopped: {stop}")
                break

    with events.phase("write"):
        if trials is None:
            save(weights["params"])
    train_s, timed_pairs, _ = clock.steady()  # warm-up steps left out
    pairs_per_s = timed_pairs / train_s if train_s > 0 else 0.0
    metrics: dict[str, Any] = {
        "epochs_run": epochs_run,
        "steps": step,
        "train_pairs": pairs_seen,
        "train_s": train_s,
        "validation_s": validation_s,
        "wall_s": time.perf_counter() - data_start,
        "train_pairs_per_s": pairs_per_s,
        "first_batch_s": clock.first_s,
        "gflop_per_s": pairs_per_s * train_pair_flop(shape) / 1e9,
        "epoch_losses": epoch_losses,
        "compile_s": network.compile_s,
        "xla_threads": threads_metric(),
    }
    if last_accuracy is not None:
        metrics["final_val_accuracy"] = last_accuracy
        metrics["best_val_accuracy"] = best
    if time_to_accuracy_s is not None:
        metrics["time_to_accuracy_s"] = time_to_accuracy_s
    return Outcome(metrics=metrics, outputs={"weights": WEIGHTS_FILE})
