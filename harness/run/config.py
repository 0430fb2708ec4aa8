"""Experiment configs: YAML -> validated, frozen dataclasses.

`load_config(path, overrides)` reads a YAML experiment, applies `--set a.b=value` overrides,
rejects unknown keys (suggesting a close match) and wrong types by their key path, and checks each
task's parameters against the job schema before any work starts. Every problem is one
`HarnessError` line such as
`configs/x.yaml: tasks[0].sample.pairs: -3 is less than the minimum of 1`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.process.protocol import (
    DEVICES,
    TASK_PARAMS_HARNESS_KEYS,
    TASK_PATH_PARAMS,
    uses_network,
    validate_section,
    validate_task_params,
)
from harness.run.presets import resolve_model

KNOWN_IMPLS_HINT = "python-torch, rust-native"


@dataclass(frozen=True)
class SyntheticConfig:
    """Arguments of the embedded synthetic data set used when `dataset.root` is not set."""

    alphabets: int = 5
    characters: int = 10
    drawers: int = 20
    seed: int = 0
    eval_alphabets: int = 3


@dataclass(frozen=True)
class DatasetConfig:
    root: Path | None = None
    eval_root: Path | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass(frozen=True)
class TaskConfig:
    """One task of the experiment: the job params and the harness's own keys for it."""

    name: str
    params: Mapping[str, Any]
    input_pairs: int | None = None
    weights: str | None = None  # a weights file, or "trained": the impl's own from a train task
    eval_root: Path | None = None  # this task's evaluation alphabets instead of dataset.eval_root


@dataclass(frozen=True)
class RooflineConfig:
    """When to measure the SGEMM peak (harness/analysis/roofline.py) and how."""

    measure: str = "auto"  # auto: when a compute task runs; always; never
    unset_openblas_coretype: bool = False  # only in the probe subprocess, and recorded
    size: int = 1024


@dataclass(frozen=True)
class ComparisonsConfig:
    """The baseline of `comparisons[]` (default: the first implementation) and the spread limit."""

    baseline: str | None = None
    max_rel_iqr: float = 0.10


@dataclass(frozen=True)
class Config:
    name: str
    seed: int
    threads: int
    repeats: int
    warmup: int
    implementations: tuple[str, ...]
    dataset: DatasetConfig
    tasks: tuple[TaskConfig, ...]
    model: Mapping[str, Any] | None = None  # resolved: filters, kernels, embedding, input
    optimizer: Mapping[str, Any] | None = None  # passed to network jobs as is (schema-checked)
    augment: Mapping[str, Any] | None = None
    sample_interval_ms: int = 50
    timeout_s: float = 1800.0
    memory_limit_mb: int | None = None
    tolerances: Mapping[str, float] = field(default_factory=dict)
    init: str = "paper"  # initialisation of the shared weights: paper | he (docs/protocol.md)
    device: str = "cpu"  # where network jobs compute: cpu | cuda (the job's `device`)
    roofline: RooflineConfig = field(default_factory=RooflineConfig)
    comparisons: ComparisonsConfig = field(default_factory=ComparisonsConfig)
    raw: Mapping[str, Any] = field(default_factory=dict)


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
    "roofline",
    "comparisons",
)


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
        raise HarnessError(f"{name}: expected a mapping of config keys, got {_kind(raw)}")
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
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise HarnessError(f"--set {key}: {where} must index a list of {len(node)} items")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise HarnessError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list")


def from_dict(raw: Mapping[str, Any], base: Path = Path(".")) -> Config:
    _reject_unknown(raw, TOP_KEYS, "")
    name = _str(raw, "name", "name", default=None)
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise HarnessError(
            f"name: expected a non-empty name of letters, digits, '-', '_' or '.', got {name!r}"
        )
    seed = _int(raw, "seed", "seed", 0, 0, 2**64 - 1)
    threads = _int(raw, "threads", "threads", 2, 1, 1024)
    repeats = _int(raw, "repeats", "repeats", 3, 1, 1000)
    warmup = _int(raw, "warmup", "warmup", 1, 0, 100)
    timeout_s = _float(raw, "timeout_s", "timeout_s", 1800.0, 0.1, 365 * 24 * 3600.0)
    impls_raw = raw.get("implementations", ["python-torch", "rust-native"])
    if (
        not isinstance(impls_raw, list)
        or not impls_raw
        or not all(isinstance(i, str) and i for i in impls_raw)
    ):
        raise HarnessError(
            f"implementations: expected a list of implementation ids ({KNOWN_IMPLS_HINT}), "
            f"got {impls_raw!r}"
        )
    if len(set(impls_raw)) != len(impls_raw):
        raise HarnessError(f"implementations: duplicate ids in {impls_raw!r}")
    monitor = _mapping(raw, "monitor", "monitor")
    _reject_unknown(monitor, ("interval_ms",), "monitor.")
    interval = _int(monitor, "interval_ms", "monitor.interval_ms", 50, 5, 60_000)
    model = raw.get("model")
    if model is not None and not isinstance(model, dict):
        raise HarnessError(f"model: expected a mapping, got {_kind(model)}")
    sections = {key: _section(raw, key) for key in ("optimizer", "augment")}
    tasks = _tasks(raw.get("tasks"))
    if model is None:
        for i, task in enumerate(tasks):
            if uses_network(task.name, task.params):
                raise HarnessError(
                    f"tasks[{i}].{task.name}: needs the network shape: "
                    "add `model: {preset: cpu}` "
                    "(presets: paper, cpu, tiny) or explicit filters, kernels, embedding, input"
                )
    return Config(
        name=name,
        seed=seed,
        threads=threads,
        repeats=repeats,
        warmup=warmup,
        implementations=tuple(impls_raw),
        dataset=_dataset(_mapping(raw, "dataset", "dataset"), base),
        tasks=tasks,
        model=resolve_model(model),
        optimizer=sections["optimizer"],
        augment=sections["augment"],
        sample_interval_ms=interval,
        timeout_s=timeout_s,
        memory_limit_mb=_int(raw, "memory_limit_mb", "memory_limit_mb", 0, 0, 2**24) or None,
        tolerances=_tolerances(_mapping(raw, "tolerances", "tolerances")),
        init=_choice(raw, "init", ("paper", "he"), "paper"),
        device=_choice(raw, "device", DEVICES, "cpu"),
        roofline=_roofline(_mapping(raw, "roofline", "roofline")),
        comparisons=_comparisons(_mapping(raw, "comparisons", "comparisons"), impls_raw),
        raw=dict(raw),
    )


def _dataset(raw: Mapping[str, Any], base: Path) -> DatasetConfig:
    _reject_unknown(raw, ("root", "eval_root", "synthetic"), "dataset.")
    syn = _mapping(raw, "synthetic", "dataset.synthetic")
    _reject_unknown(
        syn, ("alphabets", "characters", "drawers", "seed", "eval_alphabets"), "dataset.synthetic."
    )
    synthetic = SyntheticConfig(
        alphabets=_int(syn, "alphabets", "dataset.synthetic.alphabets", 5, 2, 1000),
        characters=_int(syn, "characters", "dataset.synthetic.characters", 10, 2, 1000),
        drawers=_int(syn, "drawers", "dataset.synthetic.drawers", 20, 2, 100),
        seed=_int(syn, "seed", "dataset.synthetic.seed", 0, 0, 2**32 - 1),
        eval_alphabets=_int(syn, "eval_alphabets", "dataset.synthetic.eval_alphabets", 3, 1, 1000),
    )
    return DatasetConfig(
        root=_path(raw, "root", "dataset.root", base),
        eval_root=_path(raw, "eval_root", "dataset.eval_root", base),
        synthetic=synthetic,
    )


def _roofline(raw: Mapping[str, Any]) -> RooflineConfig:
    _reject_unknown(raw, ("measure", "unset_openblas_coretype", "size"), "roofline.")
    measure = raw.get("measure", "auto")
    if measure not in ("auto", "always", "never"):
        raise HarnessError(f"roofline.measure: expected auto, always or never, got {measure!r}")
    unset = raw.get("unset_openblas_coretype", False)
    if not isinstance(unset, bool):
        raise HarnessError(
            f"roofline.unset_openblas_coretype: expected true or false, got {unset!r}"
        )
    size = _int(raw, "size", "roofline.size", 1024, 64, 16384)
    return RooflineConfig(measure=measure, unset_openblas_coretype=unset, size=size)


def _comparisons(raw: Mapping[str, Any], impls: Sequence[str]) -> ComparisonsConfig:
    _reject_unknown(raw, ("baseline", "max_rel_iqr"), "comparisons.")
    baseline = _str(raw, "baseline", "comparisons.baseline", None)
    if baseline is not None and baseline not in impls:
        raise HarnessError(
            f"comparisons.baseline: {baseline!r} is not one of the implementations {list(impls)}"
        )
    limit = _float(raw, "max_rel_iqr", "comparisons.max_rel_iqr", 0.10, 0.0, 10.0)
    return ComparisonsConfig(baseline=baseline, max_rel_iqr=limit)


def _tasks(raw: Any) -> tuple[TaskConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise HarnessError(
            f"tasks: expected a non-empty list such as [{{sample: {{pairs: 1000}}}}], "
            f"got {_kind(raw)}"
        )
    tasks = []
    for i, item in enumerate(raw):
        where = f"tasks[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            raise HarnessError(
                f"{where}: expected one task name mapping to its parameters, "
                f"e.g. `- sample: {{pairs: 1000}}`, got {item!r}"
            )
        ((name, params),) = item.items()
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise HarnessError(f"{where}.{name}: expected a mapping of parameters, got {params!r}")
        job_params = {k: v for k, v in params.items() if k not in TASK_PARAMS_HARNESS_KEYS}
        for key in TASK_PATH_PARAMS.get(str(name), ()):
            if isinstance(job_params.get(key), str):  # programs run in their own folder
                job_params[key] = str(Path(job_params[key]).expanduser().resolve())
        validate_task_params(str(name), job_params, f"{where}.{name}")
        input_pairs = _int(params, "input_pairs", f"{where}.{name}.input_pairs", 0, 0, 10**8)
        weights = _str(params, "weights", f"{where}.{name}.weights", None)
        if weights not in (None, "trained"):
            weights = str(Path(str(weights)).expanduser().resolve())
            if not Path(weights).is_file():
                raise HarnessError(f"{where}.{name}.weights: {weights} is not a file")
        eval_root = _str(params, "eval_root", f"{where}.{name}.eval_root", None)
        if eval_root is not None:  # checked with the data set, before any job (datasets.py)
            eval_root = str(Path(eval_root).expanduser().resolve())
        tasks.append(
            TaskConfig(
                name=str(name),
                params=job_params,
                input_pairs=input_pairs or None,
                weights=weights,
                eval_root=Path(eval_root) if eval_root is not None else None,
            )
        )
    return tuple(tasks)


def _tolerances(raw: Mapping[str, Any]) -> dict[str, float]:
    from harness.analysis.checks import DEFAULT_TOLERANCES

    _reject_unknown(raw, tuple(DEFAULT_TOLERANCES), "tolerances.")
    return {k: _float(raw, k, f"tolerances.{k}", 0.0, 0.0, 1e9) for k in raw}


def _choice(raw: Mapping[str, Any], key: str, choices: Sequence[str], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise HarnessError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HarnessError(f"{key}: expected a mapping, got {_kind(value)}")
    validate_section(key, value)
    return value


def _reject_unknown(raw: Mapping[str, Any], known: Sequence[str], prefix: str) -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean `{prefix}{close[0]}`?)" if close else ""
            raise HarnessError(
                f"{prefix}{key}: unknown key{hint}; expected one of {', '.join(known)}"
            )


def _mapping(raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HarnessError(f"{path}: expected a mapping, got {_kind(value)}")
    return value


def _int(raw: Mapping[str, Any], key: str, path: str, default: int, lo: int, hi: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HarnessError(f"{path}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _float(
    raw: Mapping[str, Any], key: str, path: str, default: float, lo: float, hi: float
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise HarnessError(f"{path}: expected a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _str(raw: Mapping[str, Any], key: str, path: str, default: str | None) -> str | None:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, str):
        raise HarnessError(f"{path}: expected a string, got {_kind(value)}")
    return value


def _path(raw: Mapping[str, Any], key: str, path: str, base: Path) -> Path | None:
    value = _str(raw, key, path, None)
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
