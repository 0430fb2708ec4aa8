"""The job file (protocol v1, docs/protocol.md and docs/schemas/job.schema.json) as typed data.

`parse_job(raw)` turns the decoded JSON into frozen dataclasses and raises `InputError` naming
the field path on an unknown field, a missing field, a wrong type, an out-of-range value or a
`format_version` other than 1. `from_dict` is a small generic reader: it follows the dataclass's
type hints (int, float, str, bool, Literal, `X | None`, `tuple[int, ...]`, nested dataclasses)
and the bounds the job schema gives each field (`params.field_meta`). The dataclasses of every
section and task are in params.py; this module reads a job with them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from oneshot_common.errors import InputError
from oneshot_common.params import (
    PARAMS,
    AugmentSpec,
    DatasetSpec,
    Inputs,
    ModelSpec,
    OptimizerSpec,
    check_optimizer,
    check_params,
    field_meta,
    schema_node,
)

FORMAT_VERSION = 1
SECTIONS = ("optimizer", "augment")  # read after the task's params, as their own objects


@schema_node()
@dataclass(frozen=True)
class Job:
    format_version: int
    task: str
    seed: int
    threads: int
    out_dir: str
    dataset: DatasetSpec
    inputs: Inputs
    params: Any  # the task's dataclass of params.PARAMS
    model: ModelSpec | None = None
    device: Literal["cpu", "cuda"] = "cpu"  # where the network computes (device.py)
    optimizer: OptimizerSpec | None = None  # the network tasks' sections
    augment: AugmentSpec | None = None


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
        meta = field_meta(cls, name, _is_float(hints[name]))
        values[name] = _convert(hints[name], raw[name], _join(path, name), meta)
    return cls(**values)


def _is_float(hint: Any) -> bool:
    """Whether a field holds floats (its schema bounds are then shown as floats)."""
    return hint is float or any(_is_float(arg) for arg in typing.get_args(hint))


def parse_job(raw: object) -> Job:
    """Validate a decoded job JSON and return a `Job` whose `params` is the task's dataclass."""
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
    job: Job = from_dict(Job, {k: v for k, v in raw.items() if k not in SECTIONS})
    params = from_dict(PARAMS[job.task], job.params, "params")
    check_params(params)
    conv = job.model.conv if job.model is not None else None
    if conv is not None and "fft" in conv:
        raise InputError(
            f"model.conv: got fft for layer {conv.index('fft') + 1}, expected direct "
            "(the Python implementations compute convolutions directly only)"
        )
    optimizer, augment = raw.get("optimizer"), raw.get("augment")
    if optimizer is not None:
        optimizer = from_dict(OptimizerSpec, optimizer, "optimizer")
        check_optimizer(optimizer)
    if augment is not None:
        augment = from_dict(AugmentSpec, augment, "augment")
        low, high = augment.scale
        if low > high:
            raise InputError(f"augment.scale: [{low}, {high}], expected lo <= hi")
    return dataclasses.replace(job, params=params, optimizer=optimizer, augment=augment)
