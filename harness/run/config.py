"""Experiment configs: YAML -> validated, frozen pydantic models.

`load_config(path, overrides)` reads a YAML experiment, applies `--set a.b=value` overrides and
validates it with the models below (pydantic v2, strict: no coercion, unknown keys forbidden).
Each task's parameters and the `optimizer` and `augment` sections are checked against the job
schema (docs/schemas/job.schema.json) before any work starts. Every problem is one
`HarnessError` line naming the key path and what was expected, such as
`configs/x.yaml: tasks[0].sample.pairs: -3 is less than the minimum of 1` or
`configs/x.yaml: repeets: unknown key (did you mean `repeats`?); expected one of ...`:
harness/run/config_errors.py turns pydantic's first error, in the order the keys are listed here,
into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from harness.errors import HarnessError
from harness.process.protocol import (
    uses_network,
    validate_section,
)
from harness.run.config_errors import LISTED_KEYS, fail, kind_of, validate
from harness.run.grid import Point, check_grid, expand, set_path
from harness.run.presets import PRESETS, resolve_model
from harness.run.task_config import TaskConfig, parse_tasks

KNOWN_IMPLS_HINT = "python-torch, rust-native"
DEFAULT_IMPLS = ("python-torch", "rust-native")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _empty_if_none(value: Any) -> Any:
    return {} if value is None else value


class SyntheticConfig(_Model):
    """Arguments of the embedded synthetic data set used when `dataset.root` is not set."""

    alphabets: Annotated[int, Field(ge=2, le=1000)] = 5
    characters: Annotated[int, Field(ge=2, le=1000)] = 10
    drawers: Annotated[int, Field(ge=2, le=100)] = 20
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    eval_alphabets: Annotated[int, Field(ge=1, le=1000)] = 3


def _resolve_path(value: str | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    base: Path = (info.context or {}).get("base", Path("."))
    return p if p.is_absolute() else (base / p).resolve()


class DatasetConfig(_Model):
    synthetic: SyntheticConfig = SyntheticConfig()  # checked first, listed last
    root: Path | None = None  # relative paths are resolved against the current folder
    eval_root: Path | None = None

    _none_is_empty = field_validator("synthetic", mode="before")(_empty_if_none)

    @field_validator("root", "eval_root", mode="plain")
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Path | None:
        if value is not None and not isinstance(value, str):
            raise PydanticCustomError("string_type", "")
        return _resolve_path(value, info)


class MonitorConfig(_Model):
    interval_ms: Annotated[int, Field(ge=5, le=60_000)] = 50  # psutil sampling interval


class RooflineConfig(_Model):
    """When to measure the SGEMM peak (harness/analysis/roofline.py) and how."""

    # auto: when a compute task runs; always; never
    measure: Annotated[
        Literal["auto", "always", "never"],
        Field(json_schema_extra={"expected": "auto, always or never"}),
    ] = "auto"
    unset_openblas_coretype: bool = False  # only in the probe subprocess, and recorded
    size: Annotated[int, Field(ge=64, le=16384)] = 1024


class ComparisonsConfig(_Model):
    """The baseline of `comparisons[]` (default: the first implementation) and the spread limit."""

    baseline: str | None = None
    max_rel_iqr: Annotated[float, Field(ge=0.0, le=10.0)] = 0.10

    @field_validator("baseline")
    @classmethod
    def _listed(cls, value: str | None, info: ValidationInfo) -> str | None:
        impls = (info.context or {}).get("implementations", [])
        if value is not None and value not in impls:
            raise fail(
                f"comparisons.baseline: {value!r} is not one of the implementations {list(impls)}"
            )
        return value


class Config(_Model):
    """A validated experiment; fields are checked in this order, listed in `TOP_KEYS` order."""

    name: str = Field(default=None, validate_default=True)
    seed: Annotated[int, Field(ge=0, le=2**64 - 1)] = 0
    threads: Annotated[int, Field(ge=1, le=1024)] = 2
    repeats: Annotated[int, Field(ge=1, le=1000)] = 3
    warmup: Annotated[int, Field(ge=0, le=100)] = 1
    timeout_s: Annotated[float, Field(ge=0.1, le=365 * 24 * 3600.0)] = 1800.0
    implementations: tuple[str, ...] = DEFAULT_IMPLS
    monitor: MonitorConfig = MonitorConfig()
    model: Mapping[str, Any] | None = None  # resolved: filters, kernels, embedding, input
    optimizer: Mapping[str, Any] | None = None  # passed to network jobs as is (schema-checked)
    augment: Mapping[str, Any] | None = None
    tasks: tuple[TaskConfig, ...] = Field(default=None, validate_default=True)
    dataset: DatasetConfig = DatasetConfig()
    memory_limit_mb: Annotated[int | None, Field(ge=0, le=2**24)] = None  # 0 or absent: none
    tolerances: Mapping[str, float] = Field(default_factory=dict)
    init: Literal["paper", "he"] = "paper"  # initialisation of the shared weights (protocol.md)
    device: Literal["cpu", "cuda"] = "cpu"  # where network jobs compute (the job's `device`)
    conv_skip_direct: bool = False  # model.conv with fft: run only the baseline and fft impls
    roofline: RooflineConfig = RooflineConfig()
    comparisons: ComparisonsConfig = ComparisonsConfig()
    sweep: Mapping[str, Any] | None = None  # key path -> values (harness/run/sweep.py)

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _points: list[Any] = PrivateAttr(default_factory=list)

    _none_is_empty = field_validator(
        "monitor", "dataset", "roofline", "comparisons", mode="before"
    )(_empty_if_none)

    @property
    def raw(self) -> Mapping[str, Any]:
        """The config as read (after `--set`), recorded in results.json and config.yaml."""
        return self._raw

    @property
    def points(self) -> list[tuple[Point, Config]]:
        """A sweep's points, each with its validated config ([] without `sweep`)."""
        return self._points

    @property
    def sample_interval_ms(self) -> int:
        return self.monitor.interval_ms

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, name: Any) -> str:
        if name is not None and not isinstance(name, str):
            raise PydanticCustomError("string_type", "")
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise fail(
                f"name: expected a non-empty name of letters, digits, '-', '_' or '.', got {name!r}"
            )
        return name

    @field_validator("implementations", mode="plain")
    @classmethod
    def _implementations(cls, ids: Any) -> tuple[str, ...]:
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise fail(
                f"implementations: expected a list of implementation ids ({KNOWN_IMPLS_HINT}), "
                f"got {ids!r}"
            )
        if len(set(ids)) != len(ids):
            raise fail(f"implementations: duplicate ids in {ids!r}")
        return tuple(ids)

    @field_validator("model", mode="plain")
    @classmethod
    def _model(cls, model: Any) -> dict[str, Any] | None:
        if model is not None and not isinstance(model, dict):
            raise PydanticCustomError("dict_type", "")
        try:
            return resolve_model(model)
        except HarnessError as e:  # reported as if after `dataset`, where it was always checked
            raise fail(str(e), rank="memory_limit_mb") from None

    @field_validator("optimizer", "augment", mode="plain")
    @classmethod
    def _section(cls, value: Any, info: ValidationInfo) -> Mapping[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "")
        try:
            validate_section(str(info.field_name), value)
        except HarnessError as e:
            raise fail(str(e)) from None
        return value

    @field_validator("tasks", mode="plain")
    @classmethod
    def _tasks(cls, raw: Any, info: ValidationInfo) -> tuple[TaskConfig, ...]:
        try:
            tasks = parse_tasks(raw)
        except HarnessError as e:
            raise fail(str(e)) from None
        if "model" in info.data and info.data["model"] is None:
            for i, task in enumerate(tasks):
                if uses_network(task.name, task.params):
                    raise fail(
                        f"tasks[{i}].{task.name}: needs the network shape: "
                        "add `model: {preset: cpu}` "
                        f"(presets: {', '.join(PRESETS)}) or explicit filters, kernels, "
                        "embedding, input"
                    )
        return tasks

    @field_validator("memory_limit_mb", mode="before")
    @classmethod
    def _memory_limit(cls, value: Any) -> Any:
        if value is None:  # written `memory_limit_mb: null`: not an integer
            raise PydanticCustomError("int_type", "")
        return value

    @field_validator("memory_limit_mb", mode="after")
    @classmethod
    def _zero_is_none(cls, value: int | None) -> int | None:
        return value or None

    @field_validator("sweep", mode="plain")
    @classmethod
    def _sweep(cls, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            return check_grid(value)
        except HarnessError as e:
            raise fail(str(e)) from None

    @field_validator("tolerances", mode="plain")
    @classmethod
    def _tolerances(cls, value: Any) -> dict[str, float]:
        value = _empty_if_none(value)
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "")
        checked = validate(_tolerances_model(), value, ("tolerances",))
        return dict(checked.model_dump(exclude_unset=True))


# The top-level keys as error messages list them (the fields above are in checking order).
TOP_KEYS = (
    "name",
    "seed",
    "threads",
    "repeats",
    "warmup",
    "implementations",
    "dataset",
    "tasks",
    "model",
    "optimizer",
    "augment",
    "monitor",
    "timeout_s",
    "memory_limit_mb",
    "tolerances",
    "init",
    "device",
    "conv_skip_direct",
    "roofline",
    "comparisons",
    "sweep",
)
LISTED_KEYS.update({Config: TOP_KEYS, DatasetConfig: ("root", "eval_root", "synthetic")})


@cache
def _tolerances_model() -> type[BaseModel]:
    """`tolerances`: one optional number per check of harness/analysis/checks.py."""
    from harness.analysis.checks import DEFAULT_TOLERANCES

    fields: dict[str, Any] = {
        key: (Annotated[float, Field(ge=0.0, le=1e9)], 0.0) for key in DEFAULT_TOLERANCES
    }
    return create_model("TolerancesConfig", __base__=_Model, **fields)


def load_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate one YAML experiment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read config: {e}") from None
    raw = parse_yaml(text, str(path))
    for item in overrides:
        apply_override(raw, item)
    try:
        return from_dict(raw, base=Path.cwd())
    except HarnessError as e:
        raise HarnessError(f"{path}: {e}") from None


def parse_yaml(text: str, name: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = " ".join(str(e.problem or e).split())
        raise HarnessError(f"{name}: YAML syntax error at {where}: {problem}") from None
    except yaml.YAMLError as e:  # e.g. a character YAML does not allow
        raise HarnessError(f"{name}: YAML error: {' '.join(str(e).split())}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise HarnessError(f"{name}: expected a mapping of config keys, got {kind_of(raw)}")
    return raw


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `a.b=value` (value parsed as YAML; list items by index: `tasks.0.sample.pairs`)."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise HarnessError(f"--set {item!r}: expected key.path=value")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    set_path(raw, key.split("."), value, f"--set {key}")


def from_dict(raw: Mapping[str, Any], base: Path = Path(".")) -> Config:
    """Validate a decoded config; relative paths are resolved against `base`."""
    if not isinstance(raw, Mapping):
        raise HarnessError(f"expected a mapping of config keys, got {kind_of(raw)}")
    impls = raw.get("implementations", list(DEFAULT_IMPLS))
    context = {"base": base, "implementations": impls if isinstance(impls, list) else []}
    config = validate(Config, raw, (), context)
    config._raw = dict(raw)
    if config.sweep:
        config._points = validate_points(raw, base)
    return config


def validate_points(raw: Mapping[str, Any], base: Path) -> list[tuple[Point, Config]]:
    """Every point with its validated config; the first bad one as one line naming the point."""
    out = []
    for p in expand(raw):
        try:
            out.append((p, from_dict(p.raw, base=base)))
        except HarnessError as e:
            raise HarnessError(f"sweep point {p.index} ({p.label}): {e}") from None
    return out
