"""The `train` task of python-torch: oneshot_common.training's loop with a torch `Trainer`.

The loop (data, validation, early stopping, logging, time-to-accuracy, steady-state timing) is
described in oneshot_common/training.py. This module gives it the network (`SiameseNet`), the
optimiser and its schedule (optim.py), the validation scorer (evaluate.py) and the weights file
(weights.py). A step's time covers zero_grad, forward, backward and the update; with a
non-finite loss the update is not applied. With `device: cuda` the network, batches and labels
live on the GPU (distortions are drawn and applied on the CPU) and the timed steps synchronise
before reading the clock (device.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from oneshot_common.evaluate import Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netjob import PairSource
from oneshot_common.tasks import Outcome
from oneshot_common.training import TrainingLoop
from oneshot_common.trials import TrialSet

from oneshot_torch.compiling import compile_metrics
from oneshot_torch.device import synchronize, torch_device
from oneshot_torch.evaluate import SiameseScorer
from oneshot_torch.model import pair_loss
from oneshot_torch.nettasks import make_net, pixels_to_input
from oneshot_torch.optim import Schedule, build_optimizer
from oneshot_torch.weights import save_weights


class TorchTrainer:
    """The torch side of the training loop (oneshot_common.training.Trainer)."""

    def __init__(self, job: Job, loop: TrainingLoop) -> None:
        self.input = loop.shape.input
        self.net = make_net(job, loop.shape).train()
        self.device = torch_device(job.device)
        self.optimizer = build_optimizer(self.net, loop.spec)
        self.schedule = Schedule(self.optimizer, loop.spec)

    def scorer(self) -> Scorer:
        return SiameseScorer(self.net)

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        pass  # eager; python-torch-compile compiles inside the first calls (compiling.py)

    def start_epoch(self, epoch: int) -> None:
        self.schedule.apply(epoch)

    def prepare(
        self, pixels1: npt.NDArray[np.uint8], pixels2: npt.NDArray[np.uint8], labels: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x1 = pixels_to_input(pixels1, self.input, self.device)
        x2 = pixels_to_input(pixels2, self.input, self.device)
        y = torch.from_numpy(labels).to(device=self.device, dtype=torch.float32)
        synchronize(self.device)
        return x1, x2, y

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> float:
        x1, x2, labels = batch
        self.optimizer.zero_grad(set_to_none=True)
        loss = pair_loss(self.net(x1, x2)[2], labels)
        loss.backward()  # type: ignore[no-untyped-call]
        value = float(loss.item())
        if math.isfinite(value):  # a non-finite loss leaves the weights as they are
            self.optimizer.step()
            synchronize(self.device)
        return value

    def save(self, path: str) -> None:
        save_weights(self.net, path)

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        return dict(compile_metrics(first_s, steady_step_s))

    def final_metrics(self) -> dict[str, Any]:
        return {"torch_threads": torch.get_num_threads()}


def run_train(job: Job, events: Events) -> Outcome:
    loop = TrainingLoop(job, events)
    return loop.run(TorchTrainer(job, loop))
