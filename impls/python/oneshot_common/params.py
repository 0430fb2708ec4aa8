"""Every parameter a job carries, in one module: each task's `params`, the job's `optimizer` and
`augment` sections and its shape sections (`dataset`, `inputs`, `model`). No torch, no numpy.

The dataclasses give each field its type and default (docs/protocol.md); the job schema
(docs/schemas/job.schema.json) is the one source of its bounds: `field_meta` reads a field's
minimum, maximum, length and non-emptiness from the schema node that `schema_node` ties to
its dataclass (tests/python_impl/test_params.py checks that both name the same fields and
choices). `job.parse_job` reads a job with them; the task modules import their params from
here, and this module imports no task module.

Adding a task's parameters is one dataclass and its `PARAMS` entry here, plus its params in the
job schema:

    @schema_node(task="train")
    @dataclass(frozen=True)
    class TrainParams:
        epochs: int = 10
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from oneshot_common.errors import InputError

SCHEMA = Path("docs") / "schemas" / "job.schema.json"  # in the repository, above this package

# Dataclass -> (task or None, keys): its schema node is under that task's `params` (the schema's
# `allOf` branch of the task), or under the job's top level, then down `properties` by keys.
_NODES: dict[type, tuple[str | None, tuple[str, ...]]] = {}

C = TypeVar("C", bound=type)


def schema_node(*keys: str, task: str | None = None) -> Callable[[C], C]:
    """Tie a dataclass to its node of the job schema: a task's params or the job, then keys."""

    def register(cls: C) -> C:
        _NODES[cls] = (task, keys)
        return cls

    return register


@cache
def schema_path() -> Path:
    """docs/schemas/job.schema.json of the checkout this package lies in."""
    here = Path(__file__).resolve().parent
    for folder in here.parents:
        if (folder / SCHEMA).is_file():
            return folder / SCHEMA
    raise FileNotFoundError(f"{SCHEMA} not found in any folder above {here}")


@cache
def job_schema() -> dict[str, Any]:
    with schema_path().open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def node_of(cls: type) -> dict[str, Any]:
    """The JSON Schema object node of a registered dataclass."""
    task, keys = _NODES[cls]
    node = job_schema()
    if task is not None:
        branch = next(b for b in node["allOf"] if b["if"]["properties"]["task"]["const"] == task)
        node = branch["then"]["properties"]["params"]
    for key in keys:
        node = node["properties"][key]
    for option in node.get("oneOf", []):  # `model`: null or the object
        if option.get("type") == "object":
            node = option
    return node


@cache
def field_meta(cls: type, name: str, is_float: bool) -> Mapping[str, Any]:
    """The schema's constraints of one field: minimum, maximum, length, non_empty."""
    prop = node_of(cls)["properties"][name]
    if prop.get("type") == "array":
        meta: dict[str, Any] = {}
        if "minItems" in prop and prop.get("minItems") == prop.get("maxItems"):
            meta["length"] = prop["minItems"]
        prop = {**prop["items"], **meta}
    low = prop.get("minimum", prop.get("exclusiveMinimum"))  # exclusive: see check_optimizer
    high = prop.get("maximum")
    if is_float:
        low, high = (None if b is None else float(b) for b in (low, high))
    return {
        "minimum": low,
        "maximum": high,
        "length": prop.get("length"),
        "non_empty": prop.get("minLength", 0) >= 1,
    }


@schema_node(task="sample")
@dataclass(frozen=True)
class SampleParams:
    pairs: int
    same_alphabet: float = 0.5


@schema_node(task="load")
@dataclass(frozen=True)
class LoadParams:
    source: Literal["pairs", "dataset"]


@schema_node(task="init")
@dataclass(frozen=True)
class InitParams:
    """`init`: write initial weights for `model`, seeded from the job seed."""

    init: Literal["paper", "he"] = "paper"


@schema_node(task="forward")
@dataclass(frozen=True)
class ForwardParams:
    batch: int = 64
    warmup_batches: int = 1


@schema_node(task="step")
@dataclass(frozen=True)
class StepParams:
    steps: int = 10
    batch: int = 32
    save_gradients: bool = False
    init: Literal["paper", "he"] = "paper"
    warmup_steps: int = 1


@schema_node("validation", task="train")
@dataclass(frozen=True)
class ValidationSpec:
    ways: int = 20
    trials: int = 400


@schema_node(task="train")
@dataclass(frozen=True)
class TrainParams:
    epochs: int = 10
    batch: int = 32
    pairs: int = 30_000
    same_alphabet: float = 0.5
    validate_every_steps: int = 0
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    patience: int = 0
    target_accuracy: float | None = None
    max_seconds: float | None = None
    log_every_steps: int = 50
    init: Literal["paper", "he"] = "paper"
    warmup_steps: int = 1


@schema_node(task="augment")
@dataclass(frozen=True)
class AugmentParams:
    """`augment`: distort the images of `inputs.pairs` with the job's `augment` section."""


@schema_node(task="evaluate")
@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate`: N-way one-shot accuracy (docs/evaluation.md)."""

    protocol: Literal["koch", "lake"] = "koch"
    ways: int = 20
    trials: int = 400  # koch only
    runs: str | None = None  # lake: the all_runs folder
    scorer: Literal["siamese", "mhd"] = "siamese"
    batch: int = 128  # images per embedding call
    warmup_batches: int = 1  # untimed first calls


@schema_node(task="serve")
@dataclass(frozen=True)
class ServeParams:
    """`serve`: one query at a time against cached support embeddings (serving.py)."""

    protocol: Literal["koch", "lake"] = "koch"
    ways: int = 20
    episodes: int = 10  # koch only
    runs: str | None = None  # lake: the all_runs folder
    queries: int = 500  # measured queries
    warmup_queries: int = 20  # untimed queries after the cold one
    arrival: Literal["back_to_back", "poisson"] = "back_to_back"
    rate_per_s: float = 20.0  # poisson arrivals per second (> 0)


# Task name -> the dataclass of its `params`.
PARAMS: dict[str, type] = {
    "sample": SampleParams,
    "load": LoadParams,
    "init": InitParams,
    "forward": ForwardParams,
    "step": StepParams,
    "train": TrainParams,
    "augment": AugmentParams,
    "evaluate": EvaluateParams,
    "serve": ServeParams,
}

LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "out")


@schema_node("optimizer", "layers", "conv1")  # the same for every layer
@dataclass(frozen=True)
class LayerOptim:
    """Per-layer overrides of the optimiser's lr, final momentum and L2 weight."""

    lr: float | None = None
    momentum: float | None = None
    l2: float | None = None


@schema_node("optimizer", "layers")
@dataclass(frozen=True)
class LayersOptim:
    conv1: LayerOptim | None = None
    conv2: LayerOptim | None = None
    conv3: LayerOptim | None = None
    conv4: LayerOptim | None = None
    fc1: LayerOptim | None = None
    out: LayerOptim | None = None


@schema_node("optimizer")
@dataclass(frozen=True)
class OptimizerSpec:
    """The job's top-level `optimizer` (used by `step` and `train`)."""

    name: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    momentum_start: float = 0.5
    momentum_epochs: int = 10
    l2: float = 2e-4
    lr_decay: float = 0.01
    betas: tuple[float, ...] = (0.9, 0.999)
    eps: float = 1e-8
    layers: LayersOptim | None = None


def check_optimizer(spec: OptimizerSpec) -> None:
    """The schema's exclusive minimum: learning rates must be positive."""
    if spec.lr <= 0.0:
        raise InputError(f"optimizer.lr: {spec.lr} is out of range, expected a value > 0")
    if spec.layers is not None:
        for layer in LAYERS:
            override = getattr(spec.layers, layer)
            if override is not None and override.lr is not None and override.lr <= 0.0:
                raise InputError(
                    f"optimizer.layers.{layer}.lr: {override.lr} is out of range, "
                    "expected a value > 0"
                )


def check_params(params: object) -> None:
    """The task params' exclusive minimums (the schema's other bounds are read by field_meta)."""
    if isinstance(params, ServeParams) and params.rate_per_s <= 0.0:
        raise InputError(
            f"params.rate_per_s: {params.rate_per_s} is out of range, expected a value > 0"
        )


@schema_node("augment")
@dataclass(frozen=True)
class AugmentSpec:
    """The job's top-level `augment`: the paper's affine distortions (implemented in augment.py)."""

    enabled: bool = False
    copies: int = 8
    probability: float = 0.5
    rotation_deg: float = 10.0
    shear: float = 0.3
    scale: tuple[float, ...] = (0.8, 1.2)
    translate_px: float = 2.0


@schema_node("dataset")
@dataclass(frozen=True)
class DatasetSpec:
    root: str
    eval_root: str | None = None


@schema_node("inputs")
@dataclass(frozen=True)
class Inputs:
    pairs: str | None = None
    weights: str | None = None
    onnx: str | None = None  # the ONNX export, for `model_file: onnx` engines (others ignore it)


@schema_node("model")
@dataclass(frozen=True)
class ModelSpec:
    """The resolved network shape: four conv widths and kernels, embedding size, input size;
    `conv`, the algorithm of each conv layer, which the harness writes only for implementations
    that declare FFT convolution (the Python ones compute directly: see parse_job)."""

    filters: tuple[int, ...]
    kernels: tuple[int, ...]
    embedding: int
    input: int
    conv: tuple[Literal["direct", "fft"], ...] | None = None
