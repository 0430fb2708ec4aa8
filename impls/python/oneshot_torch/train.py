"""The `train` task: a full training run with validation, early stopping and the best weights.

Data: every epoch draws `params.pairs` fresh pairs from `dataset.root` with one generator
`Rng(seed, "pairs")` that continues across epochs (epoch 0 is exactly what `sample` writes for
the same seed), or, with `inputs.pairs`, uses that list every epoch in an order shuffled by
`Rng(seed, "shuffle")` (Fisher-Yates from the end: `j = below(i + 1)`, swap). Images are decoded
once. With `augment.enabled`, each epoch also presents `augment.copies` distorted passes over
its pairs (augment.py, `Rng(seed, "augment")`). Batches of `batch` pairs are taken in order; the
last short batch of an epoch is used as it is.

The optimiser's schedule is applied at the start of each epoch (optim.py). Validation (20-way
one-shot accuracy on `dataset.eval_root` with Koch's trials and the scoring of evaluate.py)
runs every `validate_every_steps` steps and at the end of training, or at the end of every
epoch when that is 0. The best validation
weights are written to `weights.safetensors` (the final weights without an `eval_root`).
Training stops after `epochs`, after `patience` validations without improvement, when
`target_accuracy` is reached, or after `max_seconds`. A NaN or infinite loss stops it with a
TaskError; the weights file then holds the last good weights. With `device: cuda` the network,
batches and labels live on the GPU (distortions are drawn and applied on the CPU, as above) and
the timed steps synchronise before reading the clock (device.py).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import torch
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

from oneshot_torch.compiling import compile_metrics
from oneshot_torch.device import synchronize, torch_device
from oneshot_torch.evaluate import SiameseScorer
from oneshot_torch.model import pair_loss
from oneshot_torch.nettasks import make_net, pixels_to_input
from oneshot_torch.optim import Schedule, build_optimizer
from oneshot_torch.weights import save_weights


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_train(job: Job, events: Events) -> Outcome:
    params: TrainParams = job.params
    shape = network_shape(job)
    spec = optimizer_spec(job)
    augment = check_train(job, params)
    net = make_net(job, shape).train()
    device = torch_device(job.device)
    optimizer = build_optimizer(net, spec)
    schedule = Schedule(optimizer, spec)
    weights_path = os.path.join(job.out_dir, WEIGHTS_FILE)
    distort: Any = None
    if augment is not None:
        from oneshot_common.augment import distort_batch

        distort, augment_rng = distort_batch, Rng(job.seed, "augment")

    data_start = time.perf_counter()  # time-to-accuracy counts from the first data touched
    with events.phase("load"):
        trials = None
        if job.dataset.eval_root is not None:  # first: a bad eval set fails before the big load
            ways, count = params.validation.ways, params.validation.trials
            eval_set = scan_dataset(job.dataset.eval_root)
            drawn = draw_koch_trials(eval_set, ways, count, Rng(job.seed, "trials"))
            trials = load_trials(job.dataset.eval_root, drawn)
            scorer = SiameseScorer(net)
        source = PairSource(job, params)

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
            save_weights(net, weights_path)
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
            schedule.apply(epoch)
            left, right, labels_np = source.epoch()
            n, losses = len(labels_np), []
            window: list[float] = []
            for pass_index in range(passes):
                for start in range(0, n, params.batch):
                    rows = slice(start, min(start + params.batch, n))
                    pixels1 = unpack_bits(source.images[left[rows]])  # uint8 [B, 105, 105]
                    pixels2 = unpack_bits(source.images[right[rows]])
                    if pass_index > 0:  # left images in order, then right (docs/augment.md)
                        pixels1 = distort(pixels1, augment_rng, augment)
                        pixels2 = distort(pixels2, augment_rng, augment)
                    x1 = pixels_to_input(pixels1, shape.input, device)
                    x2 = pixels_to_input(pixels2, shape.input, device)
                    labels = torch.from_numpy(labels_np[rows]).to(
                        device=device, dtype=torch.float32
                    )
                    synchronize(device)
                    began = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    loss = pair_loss(net(x1, x2)[2], labels)
                    loss.backward()  # type: ignore[no-untyped-call]
                    value = float(loss.item())
                    if not math.isfinite(value):
                        if best < 0:  # no validated weights yet: keep the last good ones
                            save_weights(net, weights_path)
                        raise TaskError(
                            f"epoch {epoch} step {step}: loss is {value}, training stopped; "
                            f"{WEIGHTS_FILE} holds the last good weights (lower the learning rate?)"
                        )
                    optimizer.step()
                    synchronize(device)
                    elapsed = time.perf_counter() - began
                    pairs_seen += len(labels)
                    clock.add(elapsed, len(labels))
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
            save_weights(net, weights_path)
    train_s, timed_pairs, timed_steps = clock.steady()  # warm-up steps left out
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
        **compile_metrics(clock.first_s, train_s / max(1, timed_steps)),
        "gflop_per_s": pairs_per_s * train_pair_flop(shape) / 1e9,
        "epoch_losses": epoch_losses,
        "torch_threads": torch.get_num_threads(),
    }
    if last_accuracy is not None:
        metrics["final_val_accuracy"] = last_accuracy
        metrics["best_val_accuracy"] = best
    if time_to_accuracy_s is not None:
        metrics["time_to_accuracy_s"] = time_to_accuracy_s
    return Outcome(metrics=metrics, outputs={"weights": WEIGHTS_FILE})
