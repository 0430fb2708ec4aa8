"""The network tasks `init`, `forward` and `step` (docs/protocol.md, "Network tasks").

Each takes the parsed `Job` and `Events` and returns an `Outcome`; `tasks.TASKS` points at
them. Shared helpers build the network from `job.model` (initial weights from
`inputs.weights`, else the paper initialisation seeded from the job seed) and turn pair files
into network input (float32, ink 1.0, pooled down to `model.input`); what a network task reads
from its job is framework-free and shared with python-jax (oneshot_common.netjob, .shape).
Timed sections exclude start-up, file reading and image decoding; `gflop_per_s` uses the
analytic counts of flops.py. With `device: cuda` the network, inputs and labels live on the
GPU and timed sections synchronise before reading the clock (device.py); on the CPU nothing
changes.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import numpy.typing as npt
import torch
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
from oneshot_common.shape import Shape, network_shape
from oneshot_common.tasks import Outcome

from oneshot_torch import compiling
from oneshot_torch.compiling import compile_metrics, compile_net
from oneshot_torch.device import CPU, synchronize, torch_device
from oneshot_torch.model import SiameseNet, init_weights, pair_loss, prepare_images
from oneshot_torch.optim import Schedule, build_optimizer
from oneshot_torch.weights import save_tensors, save_weights, state_tensors

Packed = npt.NDArray[np.uint8]


def make_net(job: Job, shape: Shape) -> SiameseNet:
    """The network with `inputs.weights` loaded, or paper-initialised from the job seed (both on
    the CPU, so the weights do not depend on the device), then moved to the job's `device`."""
    from oneshot_torch.weights import load_weights

    net = SiameseNet(shape)
    if job.inputs.weights is not None:
        load_weights(net, job.inputs.weights)
    else:
        init_weights(net, job.seed, getattr(job.params, "init", "paper"))
    device = torch_device(job.device)
    if device.type != "cpu":
        net = net.to(device)
    return compile_net(net)  # python-torch-compile only (compiling.py)


def to_input(packed: Packed, side: int, device: torch.device = CPU) -> torch.Tensor:
    """Packed images [B, 1379] -> float32 network input [B, 1, side, side], ink 1.0."""
    return pixels_to_input(unpack_bits(packed), side, device)


def pixels_to_input(pixels: Packed, side: int, device: torch.device = CPU) -> torch.Tensor:
    """0/1 images [B, 105, 105] -> float32 network input [B, 1, side, side] on `device` (on a
    GPU the bytes are copied first, then converted and pooled there)."""
    bits = torch.from_numpy(pixels)
    if device.type != "cpu":
        bits = bits.to(device)
    return prepare_images(bits.to(torch.float32), side)


def run_init(job: Job, events: Events) -> Outcome:
    """`init`: write initial weights for `model` (`params.init`), seeded from the job seed."""
    shape = network_shape(job)
    with events.phase("init"):
        net = SiameseNet(shape)
        init_weights(net, job.seed, job.params.init)
    with events.phase("write"):
        save_weights(net, os.path.join(job.out_dir, WEIGHTS_FILE))
    return Outcome(
        metrics={"parameters": sum(p.numel() for p in net.parameters())},
        outputs={"weights": WEIGHTS_FILE},
    )


def run_forward(job: Job, events: Events) -> Outcome:
    """`forward`: embeddings of both towers and logits of every pair of `inputs.pairs`."""
    params: ForwardParams = job.params
    shape = network_shape(job)
    net = make_net(job, shape).eval()
    device = torch_device(job.device)
    with events.phase("load"):
        left, right, _labels = read_pair_images(job)
    n = left.shape[0]
    emb1 = torch.empty(n, shape.embedding)
    emb2 = torch.empty(n, shape.embedding)
    logits = torch.empty(n)
    forward_s, first_batch_s = 0.0, None
    with events.phase("forward"), torch.inference_mode():
        if params.warmup_batches:  # untimed calls on the first batch (docs/protocol.md)
            x1 = to_input(left[: params.batch], shape.input, device)
            x2 = to_input(right[: params.batch], shape.input, device)
            for index in range(params.warmup_batches):
                synchronize(device)
                began = time.perf_counter()
                net(x1, x2)
                synchronize(device)
                if index == 0:
                    first_batch_s = time.perf_counter() - began
        for start in range(0, n, params.batch):
            stop = min(start + params.batch, n)
            x1 = to_input(left[start:stop], shape.input, device)
            x2 = to_input(right[start:stop], shape.input, device)
            synchronize(device)
            began = time.perf_counter()
            e1, e2, out = net(x1, x2)
            synchronize(device)
            elapsed = time.perf_counter() - began
            forward_s += elapsed
            if first_batch_s is None:
                first_batch_s = elapsed
            emb1[start:stop], emb2[start:stop], logits[start:stop] = e1.cpu(), e2.cpu(), out.cpu()
            events.progress(stop, n, "pairs")
    with events.phase("write"):
        save_tensors(
            {"emb1": emb1, "emb2": emb2, "logits": logits}, os.path.join(job.out_dir, OUTPUTS_FILE)
        )
    ops: dict[str, int] = {}
    if not compiling.enabled():  # one more call on the first batch, untimed, outputs dropped
        from oneshot_torch.opcount import count_aten_ops

        x1 = to_input(left[: params.batch], shape.input, device)
        x2 = to_input(right[: params.batch], shape.input, device)
        with torch.inference_mode():
            ops["ops_per_call"] = count_aten_ops(lambda: net(x1, x2))
    pairs_per_s = n / forward_s
    first_batch_s = first_batch_s if first_batch_s is not None else forward_s  # one call ran
    return Outcome(
        metrics={
            "pairs": n,
            "forward_s": forward_s,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * pair_forward_flop(shape) / 1e9,
            "first_batch_s": first_batch_s,
            "warmup_batches": params.warmup_batches,
            "torch_threads": torch.get_num_threads(),
            **ops,
            **compile_metrics(first_batch_s, forward_s / math.ceil(n / params.batch)),
        },
        outputs={"outputs": OUTPUTS_FILE},
    )


def run_step(job: Job, events: Events) -> Outcome:
    """`step`: `steps` training steps at batch `batch` on `inputs.pairs` (in order, wrapping)."""
    params: StepParams = job.params
    shape = network_shape(job)
    spec = optimizer_spec(job)
    net = make_net(job, shape).train()
    device = torch_device(job.device)
    optimizer = build_optimizer(net, spec)
    Schedule(optimizer, spec).apply(0)
    with events.phase("load"):
        left, right, labels_np = read_pair_images(job)
    n = left.shape[0]
    losses: list[float] = []
    timed_s, timed_steps, first_batch_s = 0.0, 0, 0.0
    outputs: dict[str, str] = {}
    grads: dict[str, torch.Tensor] = {}

    def batch_of(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = wrap_indices(step * params.batch, params.batch, n)
        x1 = to_input(left[index], shape.input, device)
        x2 = to_input(right[index], shape.input, device)
        labels = torch.from_numpy(labels_np[index]).to(device=device, dtype=torch.float32)
        return x1, x2, labels

    with events.phase("step"):
        for step in range(params.steps):
            x1, x2, labels = batch_of(step)
            synchronize(device)
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            _, _, logits = net(x1, x2)
            loss = pair_loss(logits, labels)
            loss.backward()  # type: ignore[no-untyped-call]
            if step == 0 and params.save_gradients:
                grads = {
                    "grad." + name: p.grad.detach().clone().cpu()
                    for name, p in net.named_parameters()
                    if p.grad is not None
                }
            value = float(loss.item())
            if not math.isfinite(value):
                raise TaskError(f"step {step}: loss is {value}, expected a finite number")
            optimizer.step()
            synchronize(device)
            elapsed = time.perf_counter() - began
            if step == 0:
                first_batch_s = elapsed
            if step >= params.warmup_steps or params.steps <= params.warmup_steps:
                timed_s += elapsed
                timed_steps += 1
            losses.append(value)
            events.metric("loss", value, step=step)
            events.progress(step + 1, params.steps, "steps")
    with events.phase("write"):
        save_tensors(state_tensors(net), os.path.join(job.out_dir, WEIGHTS_FILE))
        outputs["weights"] = WEIGHTS_FILE
        if params.save_gradients:
            save_tensors(grads, os.path.join(job.out_dir, GRADS_FILE))
            outputs["gradients"] = GRADS_FILE
    ops: dict[str, int] = {}
    if not compiling.enabled():  # one more step on step 0's pairs, after the weights are saved
        from oneshot_torch.opcount import count_aten_ops

        x1, x2, labels = batch_of(0)

        def one_step() -> None:  # the timed section of a step, as in the loop above
            optimizer.zero_grad(set_to_none=True)
            _, _, logits = net(x1, x2)
            loss = pair_loss(logits, labels)
            loss.backward()  # type: ignore[no-untyped-call]
            float(loss.item())
            optimizer.step()

        ops["ops_per_call"] = count_aten_ops(one_step)
    pairs_per_s = timed_steps * params.batch / timed_s
    return Outcome(
        metrics={
            "losses": losses,
            "steps": params.steps,
            "timed_steps": timed_steps,
            "step_s": timed_s / timed_steps,
            "pairs_per_s": pairs_per_s,
            "gflop_per_s": pairs_per_s * train_pair_flop(shape) / 1e9,
            "first_batch_s": first_batch_s,
            "torch_threads": torch.get_num_threads(),
            **ops,
            **compile_metrics(first_batch_s, timed_s / timed_steps),
        },
        outputs=outputs,
    )
