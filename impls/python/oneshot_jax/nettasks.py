"""python-jax's `Network` (oneshot_common.network) and its tasks `init`, `forward`, `step`.

The same tasks, inputs, outputs and metrics as python-torch's: the loops are oneshot_common's
(nettasks.py, training.py); `JaxNetwork` runs model.py's network through network.py's compiled
programs. Every program a task needs is compiled first, for every batch shape it will see
(`compile_s`, never inside a timed section): `forward` compiles its short last batch too and
calls it once more during warm-up (`warm_every_size`), so that the timed loop only runs
executables that have run before. A timed call goes from inputs already on the device to
outputs ready (`block_until_ready`); a timed step is the compiled step and the wait for its
loss. `first_batch_s` is the first call of a compiled program: compilation is not in it. The
schedule sets each tensor's learning rate and momentum as arguments of the one compiled step
(optim.py): no recompile. The compiled step returns its weights unchanged on a non-finite loss
(it donates its inputs).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import jax
import numpy as np
import numpy.typing as npt
from oneshot_common import nettasks
from oneshot_common.data import unpack_bits
from oneshot_common.evaluate import Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netjob import WEIGHTS_FILE, PairSource, optimizer_spec
from oneshot_common.network import Floats
from oneshot_common.params import OptimizerSpec, TrainParams
from oneshot_common.shape import Shape, network_shape, parameter_count
from oneshot_common.tasks import Outcome
from oneshot_common.trials import TrialSet

from oneshot_jax import model, optim
from oneshot_jax.network import Network, put, ready
from oneshot_jax.weights import read_weights, save_tensors

Packed = npt.NDArray[np.uint8]


def initial_params(job: Job, shape: Shape) -> dict[str, jax.Array]:
    """`inputs.weights` or the job seed's initialisation (`params.init`, default paper), in
    internal layouts on the device."""
    if job.inputs.weights is not None:
        tensors = read_weights(job.inputs.weights, shape)
    else:
        tensors = model.init_weights(shape, job.seed, getattr(job.params, "init", "paper"))
    params: dict[str, jax.Array] = put(model.to_internal(tensors))
    return params


def to_input(packed: Packed, side: int) -> jax.Array:
    """Packed images [B, 1379] -> float32 NHWC network input on the device, ink 1.0."""
    return pixels_to_input(unpack_bits(packed), side)


def pixels_to_input(pixels: Packed, side: int) -> jax.Array:
    """0/1 images [B, 105, 105] -> float32 NHWC network input [B, side, side, 1] on the device."""
    array: jax.Array = put(model.prepare_images(pixels, side))
    return array


def threads_metric() -> int:
    """The intra-op pool size the job asked for (threads.py), like python-torch's torch_threads."""
    return int(os.environ.get("PJRT_NPROC", "0"))


class JaxNetwork:
    """The JAX side of the shared loops (oneshot_common.network.Network). With `spec` (the
    `step` and `train` tasks) it holds the optimiser's state and compiles training steps."""

    warm_every_size = True  # one compiled program per batch size

    def __init__(self, job: Job, shape: Shape, spec: OptimizerSpec | None = None) -> None:
        self.shape, self.spec = shape, spec
        self.events: Events | None = None
        self.weights: dict[str, jax.Array] = initial_params(job, shape)  # every step's
        if spec is not None:
            self.state = put(optim.init_state(spec, self.weights))
        self.network = Network(shape, spec)
        self.programs: dict[int, Any] = {}
        self.hyper: Any = None
        self.grads: dict[str, npt.NDArray[np.float32]] = {}
        self.grads_program: Any = None

    def bind(self, events: Events) -> JaxNetwork:
        """The task's events (the `compile` phase)."""
        self.events = events
        return self

    def _compiling(self) -> AbstractContextManager[Any]:
        return self.events.phase("compile") if self.events is not None else contextlib.nullcontext()

    def compile_forward(self, sizes: list[int]) -> None:
        with self._compiling():
            self.programs = {size: self.network.forward(self.weights, size) for size in sizes}

    def compile_step(self, batch: int, gradients: bool) -> None:
        with self._compiling():
            self.programs = {
                batch: self.network.train_step(self.weights, self.state, self.hyper, batch)
            }
            if gradients:
                self.grads_program = self.network.gradients(self.weights, batch)

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        assert isinstance(self.events, Events) and self.spec is not None
        params: TrainParams = source.params
        epoch_pairs = len(source.fixed[2]) if source.fixed is not None else params.pairs
        batch = params.batch
        sizes = sorted({min(batch, epoch_pairs), epoch_pairs % batch} - {0}, reverse=True)
        self.hyper = put(optim.hyper_at(self.spec, self.shape, 0))
        with self.events.phase("compile"):
            self.programs = {
                b: self.network.train_step(self.weights, self.state, self.hyper, b) for b in sizes
            }
            if trials is not None:
                from oneshot_jax.evaluate import JaxScorer

                assert isinstance(scorer, JaxScorer)
                scorer.prepare(len(trials.images))

    def inference(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def pair_inputs(self, left: Packed, right: Packed) -> tuple[Any, ...]:
        x1, x2 = to_input(left, self.shape.input), to_input(right, self.shape.input)
        return self.programs[len(left)], x1, x2

    def sync(self) -> None:
        pass  # every call blocks until ready

    def forward(self, inputs: tuple[Any, ...]) -> Any:
        program, x1, x2 = inputs
        return ready(program(self.weights, x1, x2))

    def to_host(self, outputs: Any) -> tuple[Floats, Floats, Floats]:
        e1, e2, out = outputs
        return np.asarray(e1), np.asarray(e2), np.asarray(out)

    def start_epoch(self, epoch: int) -> None:
        assert self.spec is not None
        self.hyper = put(optim.hyper_at(self.spec, self.shape, epoch))

    def prepare(self, pixels1: Packed, pixels2: Packed, labels: Packed) -> tuple[Any, ...]:
        x1 = pixels_to_input(pixels1, self.shape.input)
        x2 = pixels_to_input(pixels2, self.shape.input)
        return self.programs[len(labels)], x1, x2, put(labels.astype(np.float32))

    def gradients_before_step(self, batch: tuple[Any, ...]) -> bool:
        _program, x1, x2, labels = batch  # untimed: step 0's gradients, as they are
        found = self.grads_program(self.weights, x1, x2, labels)
        self.grads = {"grad." + k: v for k, v in model.to_interchange(found).items()}
        return False

    def step(self, batch: tuple[Any, ...], keep_gradients: bool = False) -> float:
        program, x1, x2, labels = batch
        self.weights, self.state, loss = program(
            self.weights, self.state, self.hyper, x1, x2, labels
        )
        return float(loss)  # waits for the step

    def scorer(self) -> Scorer:
        from oneshot_jax.evaluate import JaxScorer

        return JaxScorer(self.network, lambda: self.weights)

    def save(self, path: str) -> None:
        save_tensors(model.to_interchange(self.weights), path)

    def save_gradients(self, path: str) -> None:
        save_tensors(self.grads, path)

    def save_outputs(self, tensors: dict[str, Floats], path: str) -> None:
        save_tensors(tensors, path)

    def task_metrics(
        self, first_s: float, steady_s: float, first_batch: Callable[[], Any]
    ) -> dict[str, Any]:
        return {"compile_s": self.network.compile_s, "xla_threads": threads_metric()}

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        return {}

    def final_metrics(self) -> dict[str, Any]:
        return {"compile_s": self.network.compile_s, "xla_threads": threads_metric()}


def run_init(job: Job, events: Events) -> Outcome:
    """`init`: write initial weights for `model` (`params.init`), seeded from the job seed."""
    shape = network_shape(job)
    with events.phase("init"):
        tensors = model.init_weights(shape, job.seed, job.params.init)
    with events.phase("write"):
        save_tensors(tensors, os.path.join(job.out_dir, WEIGHTS_FILE))
    return Outcome(
        metrics={"parameters": parameter_count(shape)}, outputs={"weights": WEIGHTS_FILE}
    )


def run_forward(job: Job, events: Events) -> Outcome:
    """`forward` (oneshot_common.nettasks) through the compiled forward programs."""
    net = JaxNetwork(job, network_shape(job)).bind(events)
    return nettasks.run_forward(job, events, net)


def run_step(job: Job, events: Events) -> Outcome:
    """`step` (oneshot_common.nettasks) through the compiled training step."""
    net = JaxNetwork(job, network_shape(job), optimizer_spec(job)).bind(events)
    return nettasks.run_step(job, events, net)
