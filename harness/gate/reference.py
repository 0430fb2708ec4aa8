"""The gates' reference files: their models, read, write, and what a run must share with them.

Each gate keeps its figures in `results/reference/*.json` (ratios.json and memory.json by
gate/ratios.py, instructions.json by gate/instructions.py); `--update` writes one, every other
call reads it. A reference carries a format version; a file of another version, or without the
gate's body key, is refused with the command that remakes it, and one whose fields do not match
its model (`RatioReference`, `InstructionReference`: a key misspelt, missing or of another type)
is refused naming the first bad field. The models' field order is the file's key order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.analysis.comparable import RUN_CONTROL_KEYS
from harness.errors import HarnessError, first_error
from harness.results import Machine

Num = int | float


class _Reference(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RatioFigure(_Reference):
    """One gated ratio impl / baseline of a task, with the per-repeat values behind it."""

    task: str
    task_index: int
    impl: str
    baseline: str
    metric: str
    ratio: Num
    baseline_values: list[Num]
    impl_values: list[Num]


class ReferenceRun(_Reference):
    """The run a ratio reference was made from."""

    name: str
    started_utc: str
    git_commit: str | None
    git_dirty: bool | None


class ReferenceMachine(_Reference):
    """The machine facts a ratio reference records (its CPU kind chooses the gate's factor)."""

    cpu_model: str | None
    cpu_flags: list[str] | None
    logical_cores: int | None
    os: str | None
    python: str | None
    rustc: str | None
    load_avg_1m: Num | None
    sgemm_gflops: Num | None


class RatioReference(_Reference):
    """ratios.json and memory.json (gate/ratios.py): a bench-ci run's same-run ratios."""

    format_version: int
    what: str
    made_by: str
    made_utc: str
    run: ReferenceRun
    machine: ReferenceMachine
    dataset_sha256: str
    config: dict[str, Any]  # the run's config less its run-control keys (comparable_config)
    figures: list[RatioFigure]


class InstructionMachine(_Reference):
    cpu_model: str | None
    valgrind: str


class InstructionCounts(_Reference):
    """One binary's counts per job, with what built it (gate/instructions.py)."""

    rustc: str
    versions: dict[str, Any]  # the binary's own `oneshot version` record
    cargo_lock_sha256: str | None
    instructions: dict[str, int]  # job name -> the smallest count of its repeats


class InstructionReference(_Reference):
    """instructions.json (gate/instructions.py): callgrind counts of fixed jobs per binary."""

    format_version: int
    what: str
    made_by: str
    made_utc: str
    git_commit: str | None
    git_dirty: bool | None
    machine: InstructionMachine
    rustflags: str
    jobs: dict[str, Any]  # the job definitions (instructions.job_table()), compared as a whole
    impls: dict[str, InstructionCounts]


ReferenceT = TypeVar("ReferenceT", RatioReference, InstructionReference)


def write_reference(doc: BaseModel, path: Path, compact_lists: bool = False) -> None:
    """Indented JSON; `compact_lists`: one list of numbers or names per line, so a refreshed
    reference with many per-repeat values reads as a short diff."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc.model_dump(), indent=2)
    path.write_text((_compact_lists(text) if compact_lists else text) + "\n", encoding="utf-8")


def _compact_lists(text: str) -> str:
    return re.sub(
        r"\[\s+([-0-9.e+,\s\"a-z_0-9]*?)\s+\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )


def read_reference(
    path: Path,
    name: str,
    update_command: str,
    version: int,
    body: tuple[str, type],
    remake: bool,
    model: type[ReferenceT],
) -> ReferenceT:
    """The reference document at `path` of format `version` whose key `body[0]` holds a
    `body[1]`, as its `model`; HarnessError with one line otherwise (`remake`: the line says how
    to remake it). `name` is how messages name the reference (`ratio`: `no ratio reference`)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(
            f"{path}: no {name} reference; make one with `{update_command}`"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: unreadable {name} reference ({e})") from None
    key, kind = body
    hint = f"; remake it with `{update_command}`" if remake else ""
    if (
        not isinstance(doc, dict)
        or doc.get("format_version") != version
        or not isinstance(doc.get(key), kind)
    ):
        a = "an" if name[0] in "aeiou" else "a"
        raise HarnessError(f"{path}: not {a} {name} reference of format {version}{hint}")
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise HarnessError(f"{path}: {name} reference invalid at {first_error(e)}{hint}") from None


def cpu_kind(machine: Machine | ReferenceMachine) -> tuple[Any, ...]:
    """What makes two machines the same kind for a ratio: CPU model, its vector flags, cores."""
    return (machine.cpu_model, sorted(machine.cpu_flags or []), machine.logical_cores)


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal between a run and its reference: the config without how it was
    measured (`harness diff`'s run-control keys), and without where the data set lives (its
    checksum is compared separately)."""
    out = {k: v for k, v in config.items() if k not in RUN_CONTROL_KEYS}
    dataset = dict(out.get("dataset") or {})
    dataset.pop("root", None)
    dataset.pop("eval_root", None)
    out["dataset"] = dataset
    return out


def first_difference(a: Any, b: Any, at: str = "config") -> str:
    """'' when equal, else the first differing key as `key: A vs B`."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            why = first_difference(a.get(key), b.get(key), f"{at}.{key}")
            if why:
                return why
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            why = first_difference(x, y, f"{at}.{i}")
            if why:
                return why
        return ""
    return "" if a == b else f"{at}: {json.dumps(a)} vs {json.dumps(b)}"
