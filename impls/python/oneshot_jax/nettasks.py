"""The network tasks `init`, `forward` and `step` of python-jax (docs/protocol.md).

The same tasks, inputs, outputs and metrics as python-torch's (oneshot_common.netjob reads the
job for both); the network is model.py's, run through network.py's compiled programs. Timing
follows "Steady state and cold start": every program a task needs is compiled first, for
every batch shape it will see (`compile_s`, never inside a timed section); then the warm-up
calls or steps; then the timed calls, each from inputs already on the device to outputs ready
(`block_until_ready`). `forward` compiles its short last batch too and calls it once more
during warm-up, so that the timed loop only runs executables that have run before.
`first_batch_s` is the first call of a compiled program: compilation is not in it.
"""

from __future__ import annotations

import math
import os
import time

import jax
import numpy as np
import numpy.typing as npt
from oneshot_common.data import unpack_bits
from oneshot_common.errors import TaskError
from oneshot_common.events import Events
from oneshot_common.flops import pair_forward_flop, train_pair_flop
from oneshot_common.job import Job
from oneshot_common.netjob import (
    GRADS_FILE,
    OUTPUTS_FILE,
    WEIGHTS_FILE,
    optimizer_spec,
    read_pair_images,
    wrap_indices,
)
from oneshot_common.params import ForwardParams, StepParams
from oneshot_common.shape import Shape, network_shape, parameter_count
from oneshot_common.tasks import Outcome

from oneshot_jax import model, optim
from oneshot_jax.network import Network, put, ready
from oneshot_jax.weights import read_weights, save_tensors

Packed = npt.NDArray[np.uint8]


def initial_params(job: Job, shape: Shape) -> dict[str, jax.Array]:
    """`inputs.weights` or the job seed's initialisation (`params.init`, default paper), in
    internal layouts on the device."""
    if job.inputs.weights is not None:
        tensors = read_weights(job.inputs.weights, shape)
    else:
        tensors = model.init_weights(shape, job.seed, getattr(job.params, "init", "paper"))
    params: dict[str, jax.Array] = put(model.to_internal(tensors))
    return params


def to_input(packed: Packed, side: int) -> jax.Array:
    """Packed images [B, 1379] -> float32 NHWC network input on the device, ink 1.0."""
    return pixels_to_input(unpack_bits(packed), side)


def pixels_to_input(pixels: Packed, side: int) -> jax.Array:
    """0/1 images [B, 105, 105] -> float32 NHWC network input [B, side, side, 1] on the device."""
    array: jax.Array = put(model.prepare_images(pixels, side))
    return array


def threads_metric() -> int:
    """The intra-op pool size the job asked for (threads.py), like python-torch's torch_threads."""
    return int(os.environ.get("PJRT_NPROC", "0"))


def run_init(job: Job, events: Events) -> Outcome:
    """`init`: write initial weights for `model` (`params.init`), seeded from the job seed."""
    shape = network_shape(job)
    with events.phase("init"):
        tensors = model.init_weights(shape, job.seed, job.params.init)
    with events.phase("write"):
        save_tensors(tensors, os.path.join(job.out_dir, WEIGHTS_FILE))
    return Outcome(
        metrics={"parameters": parameter_count(shape)}, outputs={"weights": WEIGHTS_FILE}
    )


def run_forward(job: Job, events: Events) -> Outcome:
    """`forward`: embeddings of both towers and logits of every pair of `inputs.pairs`."""
    params: ForwardParams = job.params
    shape = network_shape(job)
    weights = initial_params(job, shape)
    with events.phase("load"):
        left, right, _labels = read_pair_images(job)
    n, batch = left.shape[0], params.batch
    sizes = sorted({min(batch, n), n % batch} - {0}, reverse=True)  # full batch, short last one
    network = Network(shape)
    with events.phase("compile"):
        programs = {size: network.forward(weights, size) for size in sizes}
    emb1 = np.empty((n, shape.embedding), dtype=np.float32)
    emb2 = np.empty((n, shape.embedding), dtype=np.float32)
    logits = np.empty(n, dtype=np.float32)
    forward_s, first_batch_s = 0.0, None
    with events.phase("forward"):
        if params.warmup_batches:  # untimed calls on the first batch (docs/protocol.md)
            x1, x2 = to_input(left[:batch], shape.input), to_input(right[:batch], shape.input)
            for index in range(params.warmup_batches):
                began = time.perf_counter()
                ready(programs[sizes[0]](weights, x1, x2))
                if index == 0:
                    first_batch_s = time.perf_counter() - began
            if len(sizes) > 1:  # the short last batch's program runs once before it is timed
                short = sizes[1]
                x1, x2 = to_input(left[-short:], shape.input), to_input(right[-short:], shape.input)
                ready(programs[short](weights, x1, x2))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            x1 = to_input(left[start:stop], shape.input)
            x2 = to_input(right[start:stop], shape.input)
            began = time.perf_counter()
            e1, e2, out = ready(programs[stop - start](weights, x1, x2))
            elapsed = time.perf_counter() - began
            forward_s += elapsed
            if first_batch_s is None:
                first_batch_s = elapsed
            emb1[start:stop], emb2[start:stop], logits[start:stop] = e1, e2, out
            events.progress(stop, n, "pairs")
    with events.phase("write"):
        save_tensors(
            {"emb1": emb1, "emb2": emb2, "logits": logits}, os.path.join(job.out_dir, OUTPUTS_FILE)
        )
    pairs_per_s = n / forward_s
    return Outcome(
        metrics={
            "pairs": n,
            "forward_s": forward_s,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * pair_forward_flop(shape) / 1e9,
            "first_batch_s": first_batch_s if first_batch_s is not None else 0.0,
            "warmup_batches": params.warmup_batches,
            "compile_s": network.compile_s,
            "xla_threads": threads_metric(),
        },
        outputs={"outputs": OUTPUTS_FILE},
    )


def run_step(job: Job, events: Events) -> Outcome:
    """`step`: `steps` training steps at batch `batch` on `inputs.pairs` (in order, wrapping)."""
    params: StepParams = job.params
    shape = network_shape(job)
    spec = optimizer_spec(job)
    weights = initial_params(job, shape)
    state = put(optim.init_state(spec, weights))
    hyper = put(optim.hyper_at(spec, shape, 0))  # `step` runs at epoch 0
    with events.phase("load"):
        left, right, labels_np = read_pair_images(job)
    n, batch = left.shape[0], params.batch
    network = Network(shape, spec)
    with events.phase("compile"):
        step_program = network.train_step(weights, state, hyper, batch)
        grads_program = network.gradients(weights, batch) if params.save_gradients else None
    losses: list[float] = []
    timed_s, timed_steps, first_batch_s = 0.0, 0, 0.0
    outputs: dict[str, str] = {}
    grads: dict[str, npt.NDArray[np.float32]] = {}
    with events.phase("step"):
        for step in range(params.steps):
            index = wrap_indices(step * batch, batch, n)
            x1, x2 = to_input(left[index], shape.input), to_input(right[index], shape.input)
            labels = put(labels_np[index].astype(np.float32))
            if step == 0 and grads_program is not None:  # untimed: step 0's gradients, as is
                found = grads_program(weights, x1, x2, labels)
                grads = {"grad." + k: v for k, v in model.to_interchange(found).items()}
            began = time.perf_counter()
            weights, state, loss = step_program(weights, state, hyper, x1, x2, labels)
            value = float(loss)  # waits for the step
            elapsed = time.perf_counter() - began
            if not math.isfinite(value):
                raise TaskError(f"step {step}: loss is {value}, expected a finite number")
            if step == 0:
                first_batch_s = elapsed
            if step >= params.warmup_steps or params.steps <= params.warmup_steps:
                timed_s += elapsed
                timed_steps += 1
            losses.append(value)
            events.metric("loss", value, step=step)
            events.progress(step + 1, params.steps, "steps")
    with events.phase("write"):
        save_tensors(model.to_interchange(weights), os.path.join(job.out_dir, WEIGHTS_FILE))
        outputs["weights"] = WEIGHTS_FILE
        if params.save_gradients:
            save_tensors(grads, os.path.join(job.out_dir, GRADS_FILE))
            outputs["gradients"] = GRADS_FILE
    pairs_per_s = timed_steps * batch / timed_s
    return Outcome(
        metrics={
            "losses": losses,
            "steps": params.steps,
            "timed_steps": timed_steps,
            "step_s": timed_s / timed_steps,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * train_pair_flop(shape) / 1e9,
            "first_batch_s": first_batch_s,
            "compile_s": network.compile_s,
            "xla_threads": threads_metric(),
        },
        outputs=outputs,
    )
