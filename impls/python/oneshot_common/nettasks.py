"""The network tasks `forward` and `step` (docs/protocol.md, "Network tasks"), written once for
every Python framework around a `Network` (network.py); `train` is training.py's loop.

Timing follows "Steady state and cold start" with `StepClock`: whatever the network compiles
comes first, for every batch size the task will see (never inside a timed section); then the
warm-up calls or steps; then the timed ones. A timed section covers only `Network.forward` or
`Network.step`, from inputs already prepared (unpacked, pooled, on the device) to outputs
ready. `first_batch_s` is the first call or step. `gflop_per_s` uses the analytic counts of
flops.py.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from oneshot_common.data import unpack_bits
from oneshot_common.errors import TaskError
from oneshot_common.events import Events
from oneshot_common.flops import pair_forward_flop, train_pair_flop
from oneshot_common.job import Job
from oneshot_common.netjob import (
    GRADS_FILE,
    OUTPUTS_FILE,
    WEIGHTS_FILE,
    StepClock,
    read_pair_images,
    wrap_indices,
)
from oneshot_common.network import Network
from oneshot_common.params import ForwardParams, StepParams
from oneshot_common.shape import network_shape
from oneshot_common.tasks import Outcome


def run_forward(job: Job, events: Events, net: Network) -> Outcome:
    """`forward`: embeddings of both towers and logits of every pair of `inputs.pairs`, in
    batches of `batch` pairs after `warmup_batches` untimed calls on the first batch."""
    params: ForwardParams = job.params
    shape = network_shape(job)
    with events.phase("load"):
        left, right, _labels = read_pair_images(job)
    n, batch = left.shape[0], params.batch
    sizes = sorted({min(batch, n), n % batch} - {0}, reverse=True)  # full batch, short last one
    net.compile_forward(sizes)
    emb1 = np.empty((n, shape.embedding), dtype=np.float32)
    emb2 = np.empty((n, shape.embedding), dtype=np.float32)
    logits = np.empty(n, dtype=np.float32)
    clock = StepClock(params.warmup_batches)  # the warm-up calls are left out of forward_s
    with events.phase("forward"), net.inference():
        if params.warmup_batches:  # untimed calls on the first batch (docs/protocol.md)
            inputs = net.pair_inputs(left[:batch], right[:batch])
            for _ in range(params.warmup_batches):
                net.sync()
                began = time.perf_counter()
                net.forward(inputs)
                clock.add(time.perf_counter() - began, min(batch, n))
            if net.warm_every_size and len(sizes) > 1:  # the short last batch's call runs once
                net.forward(net.pair_inputs(left[-sizes[1] :], right[-sizes[1] :]))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            inputs = net.pair_inputs(left[start:stop], right[start:stop])
            net.sync()
            began = time.perf_counter()
            outputs = net.forward(inputs)
            clock.add(time.perf_counter() - began, stop - start)
            emb1[start:stop], emb2[start:stop], logits[start:stop] = net.to_host(outputs)
            events.progress(stop, n, "pairs")
    with events.phase("write"):
        net.save_outputs(
            {"emb1": emb1, "emb2": emb2, "logits": logits}, os.path.join(job.out_dir, OUTPUTS_FILE)
        )
    forward_s, _pairs, calls = clock.steady()
    pairs_per_s = n / forward_s
    return Outcome(
        metrics={
            "pairs": n,
            "forward_s": forward_s,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * pair_forward_flop(shape) / 1e9,
            "first_batch_s": clock.first_s,
            "warmup_batches": params.warmup_batches,
            **net.task_metrics(
                clock.first_s,
                forward_s / calls,
                lambda: net.pair_inputs(left[:batch], right[:batch]),
            ),
        },
        outputs={"outputs": OUTPUTS_FILE},
    )


def run_step(job: Job, events: Events, net: Network) -> Outcome:
    """`step`: `steps` training steps at batch `batch` on `inputs.pairs` (in order, wrapping)."""
    params: StepParams = job.params
    shape = network_shape(job)
    net.start_epoch(0)  # `step` runs at epoch 0
    with events.phase("load"):
        left, right, labels_np = read_pair_images(job)
    n, batch = left.shape[0], params.batch
    net.compile_step(batch, params.save_gradients)

    def batch_of(step: int) -> object:
        index = wrap_indices(step * batch, batch, n)
        pixels1, pixels2 = unpack_bits(left[index]), unpack_bits(right[index])
        return net.prepare(pixels1, pixels2, labels_np[index])

    losses: list[float] = []
    clock = StepClock(params.warmup_steps)
    outputs: dict[str, str] = {}
    with events.phase("step"):
        for step in range(params.steps):
            prepared = batch_of(step)
            keep = step == 0 and params.save_gradients and net.gradients_before_step(prepared)
            net.sync()
            began = time.perf_counter()
            value = net.step(prepared, keep)
            elapsed = time.perf_counter() - began
            if not math.isfinite(value):
                raise TaskError(f"step {step}: loss is {value}, expected a finite number")
            clock.add(elapsed, batch)
            losses.append(value)
            events.metric("loss", value, step=step)
            events.progress(step + 1, params.steps, "steps")
    with events.phase("write"):
        net.save(os.path.join(job.out_dir, WEIGHTS_FILE))
        outputs["weights"] = WEIGHTS_FILE
        if params.save_gradients:
            net.save_gradients(os.path.join(job.out_dir, GRADS_FILE))
            outputs["gradients"] = GRADS_FILE
    timed_s, timed_pairs, timed_steps = clock.steady()  # warm-up steps left out
    pairs_per_s = timed_pairs / timed_s
    return Outcome(
        metrics={
            "losses": losses,
            "steps": params.steps,
            "timed_steps": timed_steps,
            "step_s": timed_s / timed_steps,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * train_pair_flop(shape) / 1e9,
            "first_batch_s": clock.first_s,
            **net.task_metrics(clock.first_s, timed_s / timed_steps, lambda: batch_of(0)),
        },
        outputs=outputs,
    )
