"""A config's `tasks:` list: each item's job params (checked against the job schema) and the
keys the harness consumes itself (docs/configs.md), as one `TaskConfig` per task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import HarnessError
from harness.process.protocol import (
    TASK_PARAMS_HARNESS_KEYS,
    TASK_PATH_PARAMS,
    validate_task_params,
)
from harness.run.config_errors import kind_of, validate


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class TaskConfig:
    """One task of the experiment: the job params and the harness's own keys for it."""

    name: str
    params: Mapping[str, Any]
    input_pairs: int | None = None
    # A weights file, "trained" (the impl's own from a train task), or {"train": params}: the
    # baseline trains once with these params and every implementation starts from its weights.
    weights: str | Mapping[str, Any] | None = None
    eval_root: Path | None = None  # this task's evaluation alphabets instead of dataset.eval_root
    vary_seed: bool = False  # repeat r's job gets seed + r (several trainings: analysis/quality)
    quality_target: float | None = None  # train: report the time to this validation accuracy
    # serve: "evict" asks the kernel to drop the implementation's files from the page cache
    # before each job (process/pagecache.py), for a cold start from disk; "warm" leaves it
    page_cache: str = "warm"


def parse_tasks(raw: Any) -> tuple[TaskConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise HarnessError(
            f"tasks: expected a non-empty list such as [{{sample: {{pairs: 1000}}}}], "
            f"got {kind_of(raw)}"
        )
    return tuple(_task(f"tasks[{i}]", item) for i, item in enumerate(raw))


def _train_weights(where: str, weights: Mapping[str, Any]) -> dict[str, Any]:
    """`weights: {train: PARAMS}`: the train params, checked like a train task's."""
    if list(weights) != ["train"] or not isinstance(weights["train"], dict):
        raise HarnessError(
            f"{where}: expected a weights file, `trained` or {{train: {{...train params}}}}, "
            f"got {dict(weights)!r}"
        )
    params = dict(weights["train"])
    validate_task_params("train", params, f"{where}.train")
    return {"train": params}


class _HarnessKeys(_Model):
    """A task's keys that the harness consumes itself (docs/configs.md)."""

    input_pairs: Annotated[int, Field(ge=0, le=10**8)] = 0
    weights: str | dict[str, dict[str, Any]] | None = None
    eval_root: str | None = None
    vary_seed: bool = False
    quality_target: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    page_cache: Annotated[
        Literal["warm", "evict"], Field(json_schema_extra={"expected": "warm or evict"})
    ] = "warm"


def _task(where: str, item: Any) -> TaskConfig:
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
    own = {k: v for k, v in params.items() if k in TASK_PARAMS_HARNESS_KEYS}
    try:
        keys = validate(_HarnessKeys, own, ())
    except HarnessError as e:
        raise HarnessError(f"{where}.{name}.{e}") from None
    weights = keys.weights
    if isinstance(weights, dict):
        weights = _train_weights(f"{where}.{name}.weights", weights)
    elif weights not in (None, "trained"):
        weights = str(Path(weights).expanduser().resolve())
        if not Path(weights).is_file():
            raise HarnessError(f"{where}.{name}.weights: {weights} is not a file")
    if keys.quality_target is not None and name != "train":
        raise HarnessError(
            f"{where}.{name}.quality_target: only a train task has a time to accuracy"
        )
    if keys.page_cache != "warm" and name != "serve":
        raise HarnessError(f"{where}.{name}.page_cache: only a serve task has a cold start")
    # eval_root is checked with the data set, before any job (datasets.py)
    eval_root = None if keys.eval_root is None else Path(keys.eval_root).expanduser().resolve()
    return TaskConfig(
        name=str(name),
        params=job_params,
        input_pairs=keys.input_pairs or None,
        weights=weights,
        eval_root=eval_root,
        vary_seed=keys.vary_seed,
        quality_target=keys.quality_target,
        page_cache=keys.page_cache,
    )
