"""The tasks of protocol v1 (docs/protocol.md), one `TaskSpec` each, in one registry `TASKS`.

Everything the harness knows about a task outside the job schema lives here: its throughput
metric, the shared inputs it needs (a pair file of how many pairs, initial weights), which of
its parameters are paths, whether it runs the network, which analytic FLOP count its
`gflop_per_s` uses, its default batch and the discrepancy checks that compare it. The tables
the rest of the harness reads (`protocol.THROUGHPUT`, `protocol.TASKS_NEEDING_PAIRS`,
`protocol.TASK_PATH_PARAMS`, `protocol.uses_network`, the checks, the roofline's compute tasks,
the crossover's tasks) are derived from `TASKS`.

The job schema (docs/schemas/job.schema.json) stays the contract with the implementations: its
task enum, each task's required parameters and its path parameters (the string parameters that
are not enums) must match `TASKS`, which tests/harness/test_taskspec.py checks. A new task is
one `TaskSpec` here and its block in the schema (and a check function in analysis/checks.py if
it brings a new check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# The analytic counts of docs/protocol.md, "FLOPs", that a task's `gflop_per_s` is based on.
FlopCount = Literal["image_forward", "pair_forward", "training_pair"]


@dataclass(frozen=True)
class ParamIs:
    """A condition on a task's params: `key` (absent: `default`) equals `value`."""

    key: str
    value: str
    default: str | None = None

    def holds(self, params: Mapping[str, Any]) -> bool:
        return bool(params.get(self.key, self.default) == self.value)


@dataclass(frozen=True)
class Throughput:
    """A task's steady-state throughput: its metric in result.json, the unit shown in reports
    and what one unit of it counts (a pair, an image, a trial)."""

    metric: str
    unit: str
    per: str


@dataclass(frozen=True)
class TaskSpec:
    """One task of the protocol, as the harness sees it (see the module docstring)."""

    name: str
    # The throughput metric; None for a task that is not timed (`init`).
    throughput: Throughput | None
    # Parameters the job schema requires of the task.
    required_params: tuple[str, ...] = ()
    # Parameters that are paths: the harness makes them absolute (jobs run in the impl's folder).
    path_params: tuple[str, ...] = ()
    # Pairs of the shared pair file the harness prepares (`inputs.pairs`; a config's
    # `input_pairs` overrides); None for a task that reads none.
    input_pairs: int | None = None
    # When the task reads no pair file after all (`load` with `source: dataset`).
    no_pairs_if: ParamIs | None = None
    # Whether the task needs the job's `model`: always, never, or under a condition on its params.
    network: bool | ParamIs = False
    # Whether a network task starts from initial weights (`inputs.weights`); `init` makes them.
    needs_weights: bool = False
    # The analytic FLOP count of the task's network work (docs/protocol.md, "FLOPs"), which its
    # `gflop_per_s` reports (`evaluate` reports none yet); None for a task without network
    # arithmetic to time. A task with one is a compute task of the roofline (analysis/roofline.py).
    flops: FlopCount | None = None
    # The task's default `batch` (pairs per call; images per call for `evaluate`).
    default_batch: int | None = None
    # Names of the discrepancy checks that compare the task (analysis/checks.py), in order.
    checks: tuple[str, ...] = ()

    def uses_network(self, params: Mapping[str, Any]) -> bool:
        """Whether a job of this task with these params needs the job's `model`."""
        if isinstance(self.network, ParamIs):
            return self.network.holds(params)
        return self.network

    def needs_pairs(self, params: Mapping[str, Any]) -> bool:
        """Whether the harness prepares a shared pair file for this task."""
        if self.input_pairs is None:
            return False
        return self.no_pairs_if is None or not self.no_pairs_if.holds(params)

    @property
    def flop_per_pair(self) -> bool:
        """Whether the task's FLOPs are counted per pair (`gflop_per_s / pairs_per_s` is the
        GFLOP of one pair: the crossover analysis's work per call)."""
        return self.flops in ("pair_forward", "training_pair")


PAIRS_PER_S = Throughput("pairs_per_s", "pairs/s", "pair")
IMAGES_PER_S = Throughput("images_per_s", "images/s", "image")

# In the order of the job schema's task enum.
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("sample", PAIRS_PER_S, required_params=("pairs",), checks=("sampling",)),
        TaskSpec(
            "load",
            IMAGES_PER_S,
            required_params=("source",),
            input_pairs=1000,
            no_pairs_if=ParamIs("source", "dataset"),
            checks=("pixels",),
        ),
        TaskSpec("init", None, network=True),
        TaskSpec(
            "forward",
            PAIRS_PER_S,
            input_pairs=256,
            network=True,
            needs_weights=True,
            flops="pair_forward",
            default_batch=64,
            checks=("forward",),
        ),
        TaskSpec(
            "step",
            PAIRS_PER_S,
            input_pairs=640,
            network=True,
            needs_weights=True,
            flops="training_pair",
            default_batch=32,
            checks=("gradients", "curves"),
        ),
        TaskSpec(
            "train",
            Throughput("train_pairs_per_s", "pairs/s", "pair"),
            network=True,
            needs_weights=True,
            flops="training_pair",
            default_batch=32,
            checks=("accuracy",),
        ),
        TaskSpec("augment", IMAGES_PER_S, input_pairs=200, checks=("augment",)),
        TaskSpec(
            "evaluate",
            Throughput("trials_per_s", "trials/s", "trial"),
            path_params=("runs",),
            network=ParamIs("scorer", "siamese", default="siamese"),
            needs_weights=True,
            flops="image_forward",
            default_batch=128,
            checks=("predictions", "accuracy"),
        ),
        TaskSpec(
            "serve",
            Throughput("queries_per_s", "queries/s", "query"),
            path_params=("runs",),
            network=True,
            needs_weights=True,
            flops="image_forward",
            checks=(),  # judged against float64 by analysis/serving.py
        ),
    )
}
