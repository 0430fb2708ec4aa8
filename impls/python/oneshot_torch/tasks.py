"""The task table of python-torch and its dispatch (docs/protocol.md, "Tasks of protocol v1").

`TASKS` maps a task name to `"module:function"`; the data tasks (`sample`, `load`, `augment`)
are the shared ones of oneshot_common, the network tasks are this package's. `run_task`
imports the module only when its task runs (oneshot_common.tasks.resolve), so `sample` and
`load` never pay for importing torch. If the task's module imports torch, `run_task` sets
torch's intra-op and inter-op threads to `job.threads` before calling it. A job with
`device: cuda` is checked before any work (device.py) and its result's `versions` name the GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys

from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.tasks import Outcome, resolve, task_table

TASKS: dict[str, str] = task_table("oneshot_torch")  # oneshot_common.tasks


def configure_torch(threads: int) -> None:
    """torch's intra-op threads = `threads`, one inter-op thread (before any tensor op)."""
    import torch

    torch.set_num_threads(threads)
    # Raises if inter-op threads were already set or used; intra-op threads are what count.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)  # issue 3: intra-op = job.threads, one inter-op


def run_task(job: Job, events: Events) -> Outcome:
    """Import the task's module lazily, set torch threads if it uses torch, and run it."""
    if job.device != "cpu":
        from oneshot_torch.device import check_device

        check_device(job.device)
    function = resolve(job, TASKS)
    if "torch" in sys.modules:
        configure_torch(job.threads)
    outcome = function(job, events)
    if job.device != "cpu":
        from oneshot_torch.device import device_versions, torch_device

        versions = {**outcome.versions, **device_versions(torch_device(job.device))}
        outcome = dataclasses.replace(outcome, versions=versions)
    return outcome
