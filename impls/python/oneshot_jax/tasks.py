"""The task table of python-jax and its dispatch (docs/protocol.md, "Tasks of protocol v1").

The data tasks (`sample`, `load`, `augment`) are oneshot_common's, identical to python-torch's;
the network tasks are this package's. `run_task` sets XLA's thread environment from
`job.threads` (threads.py) before a network task's module imports jax, starts the CPU client
with one device, and adds jax's versions and the thread settings to result.json's `versions`.
`sample` and `load` never import jax. `serve` starts the backend itself, inside its
`setup_s` (serving.py: importing the framework is part of the setup it reports).
"""

from __future__ import annotations

import dataclasses

from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.tasks import DATA_TASKS, Outcome, resolve, task_table

from oneshot_jax import threads

TASKS: dict[str, str] = task_table("oneshot_jax")  # oneshot_common.tasks
OWN_BACKEND_START = frozenset({"serve"})  # tasks that import jax and start it in their setup


def run_task(job: Job, events: Events) -> Outcome:
    """Set XLA's threads for a network task, import the task's module lazily, and run it."""
    network_task = job.task not in DATA_TASKS
    if network_task:
        threads.configure(job.threads)  # before jax is imported by the task's module
    function = resolve(job, TASKS)
    if not network_task:
        return function(job, events)
    if job.task not in OWN_BACKEND_START:
        threads.start_backend()
    outcome = function(job, events)
    versions = {**outcome.versions, **jax_versions(), **threads.versions()}
    return dataclasses.replace(outcome, versions=versions)


def jax_versions() -> dict[str, str]:
    import jax
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": str(getattr(jaxlib, "__version__", ""))}
