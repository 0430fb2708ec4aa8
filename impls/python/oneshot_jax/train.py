"""The `train` task of python-jax: oneshot_common.training's loop around `JaxNetwork`.

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

from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.tasks import Outcome
from oneshot_common.training import TrainingLoop

from oneshot_jax.nettasks import JaxNetwork


def run_train(job: Job, events: Events) -> Outcome:
    loop = TrainingLoop(job, events)
    return loop.run(JaxNetwork(job, loop.shape, loop.spec).bind(events))
