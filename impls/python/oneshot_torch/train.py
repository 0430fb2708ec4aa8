"""The `train` task of python-torch: oneshot_common.training's loop around `TorchNetwork`.

The loop (data, validation, early stopping, logging, time-to-accuracy, steady-state timing) is
described in oneshot_common/training.py. `TorchNetwork` (nettasks.py) gives it the network
(`SiameseNet`), the optimiser and its schedule (optim.py), the validation scorer (evaluate.py)
and the weights file (weights.py). A step's time covers zero_grad, forward, backward and the
update; with a non-finite loss the update is not applied. With `device: cuda` the network,
batches and labels live on the GPU (distortions are drawn and applied on the CPU) and the timed
steps synchronise before reading the clock (device.py).
"""

from __future__ import annotations

from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.tasks import Outcome
from oneshot_common.training import TrainingLoop

from oneshot_torch.nettasks import TorchNetwork


def run_train(job: Job, events: Events) -> Outcome:
    loop = TrainingLoop(job, events)
    return loop.run(TorchNetwork(job, loop.shape, loop.spec))
