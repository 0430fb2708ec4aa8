"""The harness side of protocol v1 (docs/protocol.md): job files, events and result files.

The JSON Schemas in docs/schemas/ are the contract; this module writes jobs that satisfy
`job.schema.json`, validates every `result.json` against `result.schema.json` and parses the
event lines an implementation prints on stdout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from harness.errors import HarnessError
from harness.process.tasks import TASKS

PROTOCOL_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "docs" / "schemas"

# Where a job computes (the job's optional `device`; absent means "cpu"). A manifest lists the
# devices its implementation supports in `devices:` (default: cpu only).
DEVICES = ("cpu", "cuda")

# Keys of a task in a config that the harness consumes itself rather than passing to the job.
# `input_pairs: N` makes the harness prepare N pairs once and give the same file to every impl.
# `weights: PATH | trained` gives the task initial weights instead of the shared fresh ones.
# `eval_root: PATH` gives the task other evaluation alphabets than `dataset.eval_root` (e.g.
# validation during `train` on data/omniglot/koch-validation, `evaluate` on koch-test).
TASK_PARAMS_HARNESS_KEYS = (
    "input_pairs", "weights", "eval_root", "vary_seed", "quality_target", "page_cache",
)  # fmt: skip

# The per-task tables below are derived from the task registry (process/tasks.py, `TASKS`).

# Task params that are paths: the harness makes them absolute (jobs run in the impl's folder).
TASK_PATH_PARAMS = {name: spec.path_params for name, spec in TASKS.items() if spec.path_params}

# Tasks whose job needs a pair file prepared by the harness (`inputs.pairs`).
TASKS_NEEDING_PAIRS = {
    name: spec.input_pairs for name, spec in TASKS.items() if spec.input_pairs is not None
}

# The throughput metric of each task: (metric in result.json, unit shown in reports).
THROUGHPUT = {
    name: (spec.throughput.metric, spec.throughput.unit)
    for name, spec in TASKS.items()
    if spec.throughput is not None
}


@cache
def schema(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.schema.json"
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def known_tasks() -> list[str]:
    tasks: list[str] = schema("job")["properties"]["task"]["enum"]
    return tasks


def task_params_schema(task: str) -> dict[str, Any] | None:
    for block in schema("job").get("allOf", []):
        if block["if"]["properties"]["task"]["const"] == task:
            params: dict[str, Any] = block["then"]["properties"]["params"]
            return params
    return None


def validate_task_params(task: str, params: Mapping[str, Any], where: str) -> None:
    """Check a task's parameters against the job schema; raise one line naming the key."""
    tasks = known_tasks()
    if task not in tasks:
        import difflib

        close = difflib.get_close_matches(task, tasks, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise HarnessError(f"{where}: unknown task{hint}; expected one of {', '.join(tasks)}")
    block = task_params_schema(task)
    if block is not None:
        _check(block, params, where)


def validate_section(key: str, value: Mapping[str, Any]) -> None:
    """Check a top-level job section (`optimizer`, `augment`) against the job schema."""
    _check(schema("job")["properties"][key], value, key)


def _check(block: Mapping[str, Any], value: Mapping[str, Any], where: str) -> None:
    """Raise the first schema error (in key-path order) as one line naming its key path."""
    errors = sorted(
        jsonschema.Draft202012Validator(block).iter_errors(dict(value)),
        key=lambda e: [str(p) for p in e.path],
    )
    if not errors:
        return
    err = errors[0]
    path = ".".join([where, *(str(p) for p in err.path)])
    message = " ".join(err.message.split())
    if err.validator == "additionalProperties":
        allowed = ", ".join(sorted(block.get("properties", {})))
        message += f"; expected keys: {allowed}"
    raise HarnessError(f"{path}: {message}")


def uses_network(task: str, params: Mapping[str, Any]) -> bool:
    """Whether a task needs the job's `model` (and, but for `init`, initial weights)."""
    spec = TASKS.get(task)
    return spec is not None and spec.uses_network(params)


def write_job(path: Path, job: Mapping[str, Any]) -> None:
    """Validate a job against the schema (a failure here is a harness bug) and write it."""
    jsonschema.validate(dict(job), schema("job"))
    path.write_text(json.dumps(job, indent=2) + "\n", encoding="utf-8")


def make_job(
    *,
    task: str,
    seed: int,
    threads: int,
    out_dir: Path,
    root: Path,
    eval_root: Path | None,
    params: Mapping[str, Any],
    pairs: Path | None = None,
    weights: Path | None = None,
    onnx: Path | None = None,
    model: Mapping[str, Any] | None = None,
    optimizer: Mapping[str, Any] | None = None,
    augment: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """A job (docs/protocol.md). `device` is written only when it is not "cpu", and
    `inputs.onnx` only when given (to the ONNX engines), so an implementation that rejects
    unknown fields never sees a key it does not use."""
    job: dict[str, Any] = {
        "format_version": PROTOCOL_VERSION,
        "task": task,
        "seed": seed,
        "threads": threads,
        "out_dir": str(out_dir),
        "dataset": {"root": str(root), "eval_root": str(eval_root) if eval_root else None},
        "inputs": {
            "pairs": str(pairs) if pairs else None,
            "weights": str(weights) if weights else None,
        },
        "model": dict(model) if model is not None else None,
        "params": dict(params),
    }
    if onnx is not None:
        job["inputs"]["onnx"] = str(onnx)
    if device != "cpu":
        job["device"] = device
    for key, section in (("optimizer", optimizer), ("augment", augment)):
        if section is not None:  # absent means the implementation's documented defaults
            job[key] = dict(section)
    return job


@dataclass(frozen=True)
class Event:
    """One event line of an implementation, with the harness's own arrival time."""

    t_harness_s: float
    data: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("event", ""))


def parse_event(line: str, t_harness_s: float) -> Event | None:
    """Parse one stdout line; None for a line that is not a JSON event object."""
    line = line.strip()
    if not line:
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    return Event(t_harness_s, data)


def read_result(path: Path) -> dict[str, Any]:
    """Read and validate an implementation's result.json; raise HarnessError if unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: the implementation wrote no result.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: malformed result.json: {e}") from None
    if isinstance(data, dict) and data.get("format_version") != PROTOCOL_VERSION:
        raise HarnessError(
            f"{path}: result format_version {data.get('format_version')!r} is not the known "
            f"version {PROTOCOL_VERSION}"
        )
    try:
        jsonschema.validate(data, schema("result"))
    except jsonschema.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "top level"
        raise HarnessError(
            f"{path}: result.json violates the schema at {where}: {e.message}"
        ) from None
    result: dict[str, Any] = data
    return result


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to a sibling temp file, fsync, rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
