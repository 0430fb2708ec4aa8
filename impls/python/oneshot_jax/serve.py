"""python-jax's `serve` task (docs/protocol.md, "`serve`"): oneshot_common.serving's loop around
serving.py's `JaxServing`. This module imports no jax: `build` starts the backend (threads.py;
run_task has set XLA's threads) and imports the network, so that importing the framework and
compiling the programs are part of `setup_s`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oneshot_common import serving
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.tasks import Outcome

from oneshot_jax import threads

if TYPE_CHECKING:
    from oneshot_jax.serving import JaxServing


def build(job: Job) -> JaxServing:
    """The network of `model` with `inputs.weights` (serving.check_serve required both)."""
    threads.start_backend()
    from oneshot_common.shape import network_shape

    from oneshot_jax.nettasks import initial_params
    from oneshot_jax.network import Network
    from oneshot_jax.serving import JaxServing

    shape = network_shape(job)
    weights = initial_params(job, shape)
    return JaxServing(Network(shape), lambda: weights)


def run_serve(job: Job, events: Events) -> Outcome:
    """`serve`: one query at a time against cached support embeddings (oneshot_common.serving)."""
    return serving.run_serve(job, events, build)
