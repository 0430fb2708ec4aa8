"""Task dispatch and the data tasks `sample` and `load` (docs/protocol.md, "Tasks of protocol v1").

Every Python implementation has the same task table, task name -> `"module:function"`
(`task_table(package)`): the data tasks here and `augment` (augment.py) are shared, the network
tasks are the framework package's modules (`nettasks`, `train`, `evaluate`, `serve`).
`resolve` imports the module only when its task runs, so `sample` and `load` never pay for
importing torch or jax. A task function takes the parsed `Job` and an `Events` and returns an
`Outcome` (metrics measured by the program itself and output files relative to `out_dir`).

Adding a task (e.g. a new network task) is one line in `NETWORK_TASKS` (or `DATA_TASKS`), its
function in every framework package, plus its params dataclass and `PARAMS` entry in
params.py (tests/python_impl/test_params.py checks that both name the same tasks):

    NETWORK_TASKS["train"] = "train:run_train"   # def run_train(job, events) -> Outcome
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from oneshot_common.errors import InputError, TaskError
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import LoadParams, SampleParams
from oneshot_common.result import Metric

PAIRS_FILE = "pairs.tsv"
IMAGES_FILE = "images.safetensors"


@dataclass(frozen=True)
class Outcome:
    """What a successful task reports in result.json."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # added to result.json's versions


TaskFn = Callable[[Job, Events], Outcome]

# The tasks every Python implementation shares, "module:function" (see the module docstring).
DATA_TASKS: dict[str, str] = {
    "sample": "oneshot_common.tasks:run_sample",
    "load": "oneshot_common.tasks:run_load",
    "augment": "oneshot_common.augment:run_augment",
}

# The network tasks, "module:function" inside each framework's package.
NETWORK_TASKS: dict[str, str] = {
    "init": "nettasks:run_init",
    "forward": "nettasks:run_forward",
    "step": "nettasks:run_step",
    "train": "train:run_train",
    "evaluate": "evaluate:run_evaluate",
    "serve": "serve:run_serve",
}


def task_table(package: str) -> dict[str, str]:
    """The task table of the framework package `package` (oneshot_torch, oneshot_jax)."""
    return {**DATA_TASKS, **{k: f"{package}.{v}" for k, v in NETWORK_TASKS.items()}}


def resolve(job: Job, tasks: Mapping[str, str]) -> TaskFn:
    """The function of `job.task` in a task table, its module imported now."""
    target = tasks.get(job.task)
    if target is None:
        raise InputError(
            f"task: {job.task!r} has no implementation, expected one of {sorted(tasks)}"
        )
    module_name, function_name = target.split(":")
    function: TaskFn = getattr(importlib.import_module(module_name), function_name)
    return function


def run_sample(job: Job, events: Events) -> Outcome:
    """`sample`: scan `dataset.root`, draw `params.pairs` pairs, write pairs.tsv."""
    from oneshot_common.rng import Rng
    from oneshot_common.sampling import sample_pairs, scan_dataset, write_pairs

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

    from oneshot_common.data import distinct_paths, load_dataset, load_pairs
    from oneshot_common.sampling import read_pairs, scan_dataset

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
