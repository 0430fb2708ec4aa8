"""python-torch's `Network` (oneshot_common.network) and its tasks `init`, `forward`, `step`.

`TorchNetwork` is the adapter: the loops of `forward`, `step` (oneshot_common.nettasks) and
`train` (oneshot_common.training) run around it. It builds the network from `job.model`
(initial weights from `inputs.weights`, else the paper initialisation seeded from the job seed)
and turns images into network input (float32, ink 1.0, pooled down to `model.input`). A
timed forward is the network's call; a timed step covers zero_grad, forward, backward and the
update (with a non-finite loss the update is not applied). `forward` runs in inference mode.
With `device: cuda` the network, inputs and labels live on the GPU and timed sections
synchronise before reading the clock (device.py); on the CPU nothing changes. python-torch-
compile is the same network with its tower compiled (compiling.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from oneshot_common import nettasks
from oneshot_common.data import unpack_bits
from oneshot_common.evaluate import Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netjob import WEIGHTS_FILE, PairSource, optimizer_spec
from oneshot_common.network import Floats
from oneshot_common.params import OptimizerSpec
from oneshot_common.shape import Shape, network_shape
from oneshot_common.tasks import Outcome
from oneshot_common.trials import TrialSet

from oneshot_torch import compiling
from oneshot_torch.compiling import compile_metrics, compile_net
from oneshot_torch.device import CPU, synchronize, torch_device
from oneshot_torch.model import SiameseNet, init_weights, pair_loss, prepare_images
from oneshot_torch.optim import Schedule, build_optimizer
from oneshot_torch.weights import save_tensors, save_weights

Packed = npt.NDArray[np.uint8]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


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


class TorchNetwork:
    """The torch side of the shared loops (oneshot_common.network.Network). With `spec` (the
    `step` and `train` tasks) the network trains with its optimiser; without, it infers."""

    warm_every_size = False  # eager: one program for every batch size

    def __init__(self, job: Job, shape: Shape, spec: OptimizerSpec | None = None) -> None:
        self.input = shape.input
        self.net = make_net(job, shape)
        self.net.train(spec is not None)
        self.device = torch_device(job.device)
        if spec is not None:
            self.optimizer = build_optimizer(self.net, spec)
            self.schedule = Schedule(self.optimizer, spec)
        self.grads: dict[str, torch.Tensor] = {}

    def compile_forward(self, sizes: list[int]) -> None:
        pass  # eager; python-torch-compile compiles inside the first calls (compiling.py)

    def compile_step(self, batch: int, gradients: bool) -> None:
        pass

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        pass

    def inference(self) -> AbstractContextManager[Any]:
        return torch.inference_mode()

    def pair_inputs(self, left: Packed, right: Packed) -> tuple[torch.Tensor, torch.Tensor]:
        return to_input(left, self.input, self.device), to_input(right, self.input, self.device)

    def sync(self) -> None:
        synchronize(self.device)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> Any:
        outputs = self.net(*inputs)
        synchronize(self.device)
        return outputs

    def to_host(self, outputs: Any) -> tuple[Floats, Floats, Floats]:
        e1, e2, out = outputs
        return e1.cpu().numpy(), e2.cpu().numpy(), out.cpu().numpy()

    def start_epoch(self, epoch: int) -> None:
        self.schedule.apply(epoch)

    def prepare(self, pixels1: Packed, pixels2: Packed, labels: Packed) -> Batch:
        x1 = pixels_to_input(pixels1, self.input, self.device)
        x2 = pixels_to_input(pixels2, self.input, self.device)
        y = torch.from_numpy(labels).to(device=self.device, dtype=torch.float32)
        synchronize(self.device)
        return x1, x2, y

    def gradients_before_step(self, batch: Batch) -> bool:
        return True  # the step's backward leaves them: `step` copies them

    def step(self, batch: Batch, keep_gradients: bool = False) -> float:
        x1, x2, labels = batch
        self.optimizer.zero_grad(set_to_none=True)
        loss = pair_loss(self.net(x1, x2)[2], labels)
        loss.backward()  # type: ignore[no-untyped-call]
        if keep_gradients:
            self.grads = {
                "grad." + name: p.grad.detach().clone().cpu()
                for name, p in self.net.named_parameters()
                if p.grad is not None
            }
        value = float(loss.item())
        if math.isfinite(value):  # a non-finite loss leaves the weights as they are
            self.optimizer.step()
            synchronize(self.device)
        return value

    def scorer(self) -> Scorer:
        from oneshot_torch.evaluate import SiameseScorer

        return SiameseScorer(self.net)

    def save(self, path: str) -> None:
        save_weights(self.net, path)

    def save_gradients(self, path: str) -> None:
        save_tensors(self.grads, path)

    def save_outputs(self, tensors: dict[str, Floats], path: str) -> None:
        save_tensors({k: torch.from_numpy(v) for k, v in tensors.items()}, path)

    def task_metrics(
        self, first_s: float, steady_s: float, first_batch: Callable[[], Any]
    ) -> dict[str, Any]:
        ops: dict[str, int] = {}
        if not compiling.enabled():  # one more call on the first batch, untimed, after writing
            from oneshot_torch.opcount import count_aten_ops

            inputs = first_batch()
            if self.net.training:  # the timed section of a step
                ops["ops_per_call"] = count_aten_ops(lambda: self.step(inputs))
            else:
                with torch.inference_mode():
                    ops["ops_per_call"] = count_aten_ops(lambda: self.net(*inputs))
        return {
            "torch_threads": torch.get_num_threads(),
            **ops,
            **compile_metrics(first_s, steady_s),
        }

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        return dict(compile_metrics(first_s, steady_step_s))

    def final_metrics(self) -> dict[str, Any]:
        return {"torch_threads": torch.get_num_threads()}


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
    """`forward` (oneshot_common.nettasks) with the network in inference mode."""
    return nettasks.run_forward(job, events, TorchNetwork(job, network_shape(job)))


def run_step(job: Job, events: Events) -> Outcome:
    """`step` (oneshot_common.nettasks) with the network training."""
    net = TorchNetwork(job, network_shape(job), optimizer_spec(job))
    return nettasks.run_step(job, events, net)
