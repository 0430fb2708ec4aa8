"""The job file (protocol v1, docs/protocol.md and docs/schemas/job.schema.json) as typed data.

`parse_job(raw)` turns the decoded JSON into frozen dataclasses and raises `InputError` naming
the field path on an unknown field, a missing field, a wrong type, an out-of-range value or a
`format_version` other than 1. `from_dict` is a small generic reader: it follows the dataclass's
type hints (int, float, str, bool, Literal, `X | None`, `tuple[int, ...]`, nested dataclasses)
and the bounds given as field metadata (`bounds(minimum, maximum)`).

Adding a task's parameters (e.g. for the network tasks) is one dataclass and one line:

    @dataclass(frozen=True)
    class TrainParams:
        epochs: int = field(metadata=bounds(1))
        batch: int = field(default=32, metadata=bounds(1))

    PARAMS["train"] = TrainParams        # or add it to the PARAMS literal below

Define such dataclasses in a module that does not import torch (job parsing must stay cheap),
and register the task's function in `tasks.TASKS`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from oneshot_common.errors import InputError

FORMAT_VERSION = 1
U64_MAX = (1 << 64) - 1


def bounds(minimum: float | None = None, maximum: float | None = None) -> dict[str, Any]:
    """Field metadata: inclusive numeric bounds checked by `from_dict`."""
    return {"minimum": minimum, "maximum": maximum}


@dataclass(frozen=True)
class DatasetSpec:
    root: str = field(metadata={"non_empty": True})
    eval_root: str | None = None


@dataclass(frozen=True)
class Inputs:
    pairs: str | None = None
    weights: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """The resolved network shape: four conv widths and kernels, embedding size, input size."""

    filters: tuple[int, ...] = field(metadata={**bounds(1), "length": 4})
    kernels: tuple[int, ...] = field(metadata={**bounds(1), "length": 4})
    embedding: int = field(metadata=bounds(1))
    input: int = field(metadata=bounds(8))


@dataclass(frozen=True)
class SampleParams:
    pairs: int = field(metadata=bounds(1))
    same_alphabet: float = field(default=0.5, metadata=bounds(0.0, 1.0))


@dataclass(frozen=True)
class LoadParams:
    source: Literal["pairs", "dataset"]


# Task name -> dataclass of its `params`. Register new tasks here (see the module docstring).
PARAMS: dict[str, type] = {"sample": SampleParams, "load": LoadParams}


@dataclass(frozen=True)
class Job:
    format_version: int
    task: str
    seed: int = field(metadata=bounds(0, U64_MAX))
    threads: int = field(metadata=bounds(1, 1024))
    out_dir: str = field(metadata={"non_empty": True})
    dataset: DatasetSpec
    inputs: Inputs
    params: Any
    model: ModelSpec | None = None
    device: Literal["cpu", "cuda"] = "cpu"  # where the network computes (device.py)
    # Network tasks' sections, parsed by netparams.parse_sections (OptimizerSpec, AugmentSpec).
    optimizer: Any = None
    augment: Any = None


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_bounds(value: float, meta: typing.Mapping[str, Any], path: str) -> None:
    low, high = meta.get("minimum"), meta.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise InputError(f"{path}: {value} is out of range, expected a value in {span}")


def _convert(hint: Any, value: object, path: str, meta: typing.Mapping[str, Any]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        rest = [o for o in options if o is not type(None)]
        if len(rest) == 1:
            return _convert(rest[0], value, path, meta)
        raise TypeError(f"unsupported union {hint}")  # a bug in a params dataclass
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices or isinstance(value, bool):
            listed = ", ".join(str(c) for c in choices)
            raise InputError(f"{path}: got {_describe(value)}, expected one of {listed}")
        return value
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise InputError(f"{path}: got {_describe(value)}, expected an array")
        length = meta.get("length")
        if length is not None and len(value) != length:
            raise InputError(f"{path}: got {len(value)} items, expected {length}")
        return tuple(_convert(item_hint, v, f"{path}[{i}]", meta) for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_dict(hint, value, path)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{path}: got {_describe(value)}, expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{path}: got {_describe(value)}, expected an integer")
        _check_bounds(value, meta, path)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{path}: got {_describe(value)}, expected a number")
        _check_bounds(value, meta, path)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"{path}: got {_describe(value)}, expected a string")
        if meta.get("non_empty") and not value:
            raise InputError(f"{path}: got an empty string, expected a non-empty string")
        return value
    raise TypeError(f"unsupported field type {hint}")  # a bug in a params dataclass


def from_dict(cls: type, raw: object, path: str = "") -> Any:
    """Build dataclass `cls` from a JSON object, rejecting unknown fields by their path."""
    where = path or "job"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: got {_describe(raw)}, expected an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        expected = ", ".join(sorted(fields))
        raise InputError(f"{_join(path, unknown[0])}: unknown field, expected one of {expected}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in raw:
            no_default = spec.default is dataclasses.MISSING
            if no_default and spec.default_factory is dataclasses.MISSING:
                raise InputError(f"{_join(path, name)}: missing required field")
            continue
        values[name] = _convert(hints[name], raw[name], _join(path, name), spec.metadata)
    return cls(**values)


def parse_job(raw: object) -> Job:
    """Validate a decoded job JSON and return a `Job` whose `params` is the task's dataclass."""
    # Late import: netparams and evalparams build on this module and register their tasks.
    from oneshot_common import evalparams, netparams  # noqa: F401

    if not isinstance(raw, dict):
        raise InputError(f"job: got {_describe(raw)}, expected an object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise InputError(
            f"format_version: got {_describe(version)}, expected {FORMAT_VERSION} (protocol v1)"
        )
    task = raw.get("task")
    if not isinstance(task, str) or task not in PARAMS:
        known = ", ".join(sorted(PARAMS))
        raise InputError(f"task: got {_describe(task)}, expected one of {known}")
    job: Job = from_dict(Job, raw)
    params = from_dict(PARAMS[job.task], job.params, "params")
    return netparams.parse_sections(dataclasses.replace(job, params=params))
