"""Task dispatch and the data tasks `sample` and `load` (docs/protocol.md, "Tasks of protocol v1").

`TASKS` maps a task name to `"module:function"`; `run_task` imports the module only when its
task runs, so `sample` and `load` never pay for importing torch. A task function takes the
parsed `Job` and an `Events` and returns an `Outcome` (metrics measured by the program itself
and output files relative to `out_dir`).

Adding a task (e.g. the network tasks) is one line here plus its params dataclass in
`job.PARAMS`:

    TASKS["train"] = "oneshot_torch.train:run_train"   # def run_train(job, events) -> Outcome

If the task's module imports torch, `run_task` sets torch's intra-op and inter-op threads to
`job.threads` before calling it (torch is never imported for a task that does not need it).
A job with `device: cuda` is checked before any work (device.py) and its result's `versions`
name the GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from oneshot_torch.errors import InputError, TaskError
from oneshot_torch.events import Events
from oneshot_torch.job import Job, LoadParams, SampleParams
from oneshot_torch.result import Metric

PAIRS_FILE = "pairs.tsv"
IMAGES_FILE = "images.safetensors"


@dataclass(frozen=True)
class Outcome:
    """What a successful task reports in result.json."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # added to result.json's versions


TaskFn = Callable[[Job, Events], Outcome]

# Task name -> "module:function". Keep it in step with job.PARAMS.
TASKS: dict[str, str] = {
    "sample": "oneshot_torch.tasks:run_sample",
    "load": "oneshot_torch.tasks:run_load",
    "init": "oneshot_torch.nettasks:run_init",
    "forward": "oneshot_torch.nettasks:run_forward",
    "step": "oneshot_torch.nettasks:run_step",
    "train": "oneshot_torch.train:run_train",
    "augment": "oneshot_torch.augment:run_augment",
    "evaluate": "oneshot_torch.evaluate:run_evaluate",
}


def _configure_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    # Raises if inter-op threads were already set or used; intra-op threads are what count.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)  # issue 3: intra-op = job.threads, one inter-op


def run_task(job: Job, events: Events) -> Outcome:
    """Import the task's module lazily, set torch threads if it uses torch, and run it."""
    target = TASKS.get(job.task)
    if target is None:
        raise InputError(
            f"task: {job.task!r} has no implementation, expected one of {sorted(TASKS)}"
        )
    if job.device != "cpu":
        from oneshot_torch.device import check_device

        check_device(job.device)
    module_name, function_name = target.split(":")
    function: TaskFn = getattr(importlib.import_module(module_name), function_name)
    if "torch" in sys.modules:
        _configure_torch(job.threads)
    outcome = function(job, events)
    if job.device != "cpu":
        from oneshot_torch.device import device_versions, torch_device

        versions = {**outcome.versions, **device_versions(torch_device(job.device))}
        outcome = dataclasses.replace(outcome, versions=versions)
    return outcome


def run_sample(job: Job, events: Events) -> Outcome:
    """`sample`: scan `dataset.root`, draw `params.pairs` pairs, write pairs.tsv."""
    from oneshot_torch.rng import Rng
    from oneshot_torch.sampling import sample_pairs, scan_dataset, write_pairs

    params: SampleParams = job.params
    task_start = time.perf_counter()
    with events.phase("sample"):
        scan_start = time.perf_counter()  # pairs_per_s runs from here to the file written
        dataset = scan_dataset(job.dataset.root)
        pairs = sample_pairs(dataset, params.pairs, params.same_alphabet, Rng(job.seed, "pairs"))
    with events.phase("write"):
        write_pairs(os.path.join(job.out_dir, PAIRS_FILE), pairs)
    written = time.perf_counter()
    return Outcome(
        metrics={
            "pairs": len(pairs),
            "pairs_per_s": len(pairs) / (written - scan_start),
            "task_s": time.perf_counter() - task_start,
        },
        outputs={"pairs": PAIRS_FILE},
    )


def run_load(job: Job, events: Events) -> Outcome:
    """`load`: decode `inputs.pairs` or every image of `dataset.root`, write images.safetensors."""
    import numpy as np
    from safetensors.numpy import save_file

    from oneshot_torch.data import distinct_paths, load_dataset, load_pairs
    from oneshot_torch.sampling import read_pairs, scan_dataset

    params: LoadParams = job.params
    task_start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        events.progress(done, total, "images")

    tensors: dict[str, np.ndarray] = {}
    with events.phase("load"):
        if params.source == "pairs":
            if job.inputs.pairs is None:
                raise InputError("inputs.pairs: null, expected a pair file for source: pairs")
            pairs = read_pairs(job.inputs.pairs, job.dataset.root)
            images = len(distinct_paths(pairs))
            decode_start = time.perf_counter()
            left, right, labels = load_pairs(job.dataset.root, pairs, progress)
            decode_s = time.perf_counter() - decode_start
            tensors = {"left": left, "right": right, "labels": labels}
        else:
            dataset = scan_dataset(job.dataset.root)
            images = dataset.num_images
            decode_start = time.perf_counter()
            tensors = {"images": load_dataset(dataset, progress)}
            decode_s = time.perf_counter() - decode_start
    with events.phase("write"):
        path = os.path.join(job.out_dir, IMAGES_FILE)
        try:
            save_file(tensors, path)
        except OSError as exc:
            raise TaskError(f"{path}: cannot write the images ({exc.strerror})") from None
    task_s = time.perf_counter() - task_start
    return Outcome(
        metrics={
            "images": images,
            "images_per_s": images / decode_s if decode_s > 0 else 0.0,
            "task_s": task_s,
        },
        outputs={"images": IMAGES_FILE},
    )
