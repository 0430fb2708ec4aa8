"""The tasks of the ONNX engines and their dispatch (docs/protocol.md, "The ONNX export").

`forward`, `evaluate` and `serve`, each the shared loop of oneshot_common (nettasks.py,
evaluate.py with netscorer.py, serving.py) around an `OnnxNetwork` (network.py) of the
program's engine; every other task is refused with one line (exit 2) before any work: the
engines run the exported tower only, they never train (`step`, `train`) and leave the data
tasks and `init` to the other implementations (the manifests' `tasks:`). The engine is opened
when the task's network is built: inside `setup_s` for `evaluate` and `serve`, as the other
Python implementations import their framework there. The result's `versions` gain the
engine's (engines.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from oneshot_common.errors import InputError
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import EvaluateParams
from oneshot_common.tasks import Outcome

from oneshot_onnx.network import OnnxNetwork

TASKS = ("forward", "evaluate", "serve")
TRAINING_TASKS = ("step", "train")


class Runner:
    """The task runner of one engine (`onnxruntime`, `openvino`): `Program.run_task`."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.impl_id = f"python-{engine}"
        self.network: OnnxNetwork | None = None  # the last one built, for its versions

    def build(self, job: Job) -> OnnxNetwork:
        """The job's network: the engine on `inputs.onnx`, the head of `inputs.weights`."""
        from oneshot_common.shape import network_shape

        from oneshot_onnx.engines import open_engine
        from oneshot_onnx.network import read_head

        shape = network_shape(job)
        head = read_head(job.inputs.weights, shape)  # checked first: cheap, names the tensor
        engine = open_engine(self.engine, job.inputs.onnx, shape, job.threads)
        self.network = OnnxNetwork(engine, shape, head)
        return self.network

    def __call__(self, job: Job, events: Events) -> Outcome:
        tasks: dict[str, Callable[[Job, Events], Outcome]] = {
            "forward": self.forward,
            "evaluate": self.evaluate,
            "serve": self.serve,
        }
        function = tasks.get(job.task)
        if function is None:
            what = "does not train" if job.task in TRAINING_TASKS else "does not run"
            raise InputError(
                f"{self.impl_id} {what}: task {job.task!r}, expected one of "
                f"{', '.join(TASKS)} (an ONNX engine runs the exported tower only)"
            )
        outcome = function(job, events)
        versions = dict(outcome.versions)
        if self.network is not None:
            versions.update(self.network.engine.versions())
        return dataclasses.replace(outcome, versions=versions)

    def forward(self, job: Job, events: Events) -> Outcome:
        from oneshot_common import nettasks

        return nettasks.run_forward(job, events, self.build(job))

    def evaluate(self, job: Job, events: Events) -> Outcome:
        from oneshot_common import evaluate
        from oneshot_common.evaluate import Scorer
        from oneshot_common.netscorer import NetworkScorer

        def network_scorer(job: Job, params: EvaluateParams, events: Events) -> Scorer:
            return NetworkScorer(
                self.build(job),
                params.batch,
                lambda done, total: events.progress(done, total, "images"),
                params.warmup_batches,
            )

        return evaluate.run_evaluate(job, events, network_scorer)

    def serve(self, job: Job, events: Events) -> Outcome:
        from oneshot_common import serving

        return serving.run_serve(job, events, self.build)
