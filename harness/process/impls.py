"""Implementations as the harness sees them: a folder with an `impl.yaml` manifest.

The harness never imports an implementation. It reads the manifest (id, language, build, run and
version commands, the devices it supports, the tasks it implements; validated by the pydantic
model `Manifest`, every problem one line naming the file and the key), builds one explicit
argument list per job in `Implementation.command`, and talks to the program only through files
(docs/protocol.md). `check_device` refuses, before any work starts, a config whose `device` a
chosen implementation does not declare; `tasks_note` refuses a baseline that lacks a task of the
config and says which tasks the others do not implement (they get no job and no measurement
there: "not implemented", never a failure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from harness.errors import HarnessError
from harness.process.protocol import DEVICES, REPO_ROOT
from harness.process.tasks import TASKS

IMPLS_DIR = REPO_ROOT / "impls"
IMPLS_ENV = "ONESHOT_BENCH_IMPLS"  # another folder of implementation folders, e.g. for tests
MANIFEST_KEYS = (
    "id", "language", "build", "run", "version", "devices", "conv", "tasks", "model_file",
    "effort",
)  # fmt: skip


@dataclass(frozen=True)
class Implementation:
    id: str
    language: str
    folder: Path
    run: tuple[str, ...]
    build: tuple[str, ...] | None = None
    version: tuple[str, ...] | None = None
    devices: tuple[str, ...] = ("cpu",)  # the job `device`s it supports (manifest `devices:`)
    conv: tuple[str, ...] = ("direct",)  # the `model.conv` algorithms it has (manifest `conv:`)
    tasks: tuple[str, ...] | None = None  # the tasks it implements (manifest `tasks:`); None: all
    # The model file it runs besides the weights (manifest `model_file:`): "onnx" for the ONNX
    # engines, whose jobs get `inputs.onnx`; None for the others.
    model_file: str | None = None
    # What it costs to write and ship (manifest `effort:`, harness/analysis/effort.py).
    effort: Mapping[str, Any] = field(default_factory=dict)

    def implements(self, task: str) -> bool:
        """Whether the manifest declares `task` (every task when it declares no `tasks:`)."""
        return self.tasks is None or task in self.tasks

    def command(self, job: Path) -> list[str]:
        """The one command line that runs a job (argument list; no shell)."""
        return [self.expand(arg, job) for arg in self.run]

    def check_command(self, jobs: Sequence[Path]) -> list[str]:
        """The one command line that validates many jobs and runs none (`check JOB...`,
        docs/protocol.md): the `run` command with its `run {job}` tail replaced."""
        if self.run[-2:] != ("run", "{job}"):
            raise HarnessError(
                f"{self.id}: its run command does not end in `run {{job}}`, so the `check` "
                "verb cannot be derived from it"
            )
        return [self.expand(arg) for arg in self.run[:-2]] + ["check", *map(str, jobs)]

    def expand(self, arg: str, job: Path | None = None) -> str:
        arg = arg.replace("{python}", sys.executable)
        if job is not None:
            arg = arg.replace("{job}", str(job))
        return arg


def discover(folder: Path | None = None) -> dict[str, Implementation]:
    """Every `impls/*/impl.yaml` (or `$ONESHOT_BENCH_IMPLS/*/impl.yaml`), keyed by id."""
    if folder is None:
        folder = Path(os.environ[IMPLS_ENV]) if os.environ.get(IMPLS_ENV) else IMPLS_DIR
    found: dict[str, Implementation] = {}
    for manifest in sorted(folder.glob("*/impl.yaml")):
        impl = load_manifest(manifest)
        if impl.id in found:
            raise HarnessError(f"{manifest}: implementation id {impl.id!r} is declared twice")
        found[impl.id] = impl
    return found


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Command = Annotated[list[StrictStr], Field(min_length=1)]
Device = Literal["cpu", "cuda"]
assert get_args(Device) == DEVICES, "Device must list protocol.DEVICES"
TaskName = Literal[
    "sample", "load", "init", "augment", "forward", "step", "train", "evaluate", "serve"
]
assert set(get_args(TaskName)) == set(TASKS), "TaskName must list the protocol's TASKS"


class CargoEffort(_Strict):
    manifest: StrictStr
    package: StrictStr


class Effort(_Strict):
    """`effort:` (harness/analysis/effort.py): `network` globs, then `cargo` or `python`."""

    network: list[StrictStr]
    cargo: CargoEffort | None = None
    python: list[StrictStr] | None = None


class Manifest(_Strict):
    """An `impl.yaml` (docs/protocol.md, "Manifests"); the fields in MANIFEST_KEYS's order."""

    id: StrictStr
    language: StrictStr
    build: Command | None = None
    run: Command
    version: Command | None = None
    devices: Annotated[list[Device], Field(min_length=1)] = ["cpu"]
    conv: list[Literal["direct", "fft"]] = ["direct"]
    tasks: Annotated[list[TaskName], Field(min_length=1)] | None = None
    model_file: Literal["onnx"] | None = None
    effort: Effort | None = None

    @field_validator("devices", "conv", "tasks")
    @classmethod
    def _distinct(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        if len(set(value)) != len(value):
            raise ValueError("not distinct")
        if info.field_name == "conv" and "direct" not in value:
            raise ValueError("no direct")
        return value


# What each manifest key expects, as its one-line error says it (given the value found).
EXPECTED: dict[str, Callable[[Any], str]] = {
    "id": lambda v: f"id: expected a string, got {v!r}",
    "language": lambda v: f"language: expected a string such as python or rust, got {v!r}",
    "build": lambda v: f"build: expected a list of arguments, got {v!r}",
    "run": lambda v: f"run: expected a list of arguments, got {v!r}",
    "version": lambda v: f"version: expected a list of arguments, got {v!r}",
    "devices": lambda v: (
        f"devices: {v!r}, expected a list of distinct devices out of {', '.join(DEVICES)}, "
        "e.g. [cpu, cuda]"
    ),
    "conv": lambda v: (
        f"conv: {v!r}, expected [direct] or [direct, fft] (the convolution algorithms of "
        "model.conv it implements)"
    ),
    "tasks": lambda v: (
        f"tasks: {v!r}, expected a list of distinct tasks out of {', '.join(TASKS)} (the tasks "
        "it implements; leave the key out for all of them)"
    ),
    "model_file": lambda v: (
        f"model_file: {v!r}, expected onnx (the model file it runs besides the weights; leave "
        "the key out for none)"
    ),
    "effort": lambda v: (
        f"effort: {v!r}, expected {{network: [globs], cargo: {{manifest: PATH, package: NAME}}}} "
        "or {network: [globs], python: [distributions]}"
    ),
}


def load_manifest(path: Path) -> Implementation:
    """Read and validate one impl.yaml; its first problem is one line naming file and key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise HarnessError(f"{path}: cannot read implementation manifest: {e}") from None
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: expected a mapping with id, language, run")
    try:
        m = Manifest.model_validate(raw)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        for err in errors:
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                raise HarnessError(
                    f"{path}: unknown manifest key {str(err['loc'][0])!r}; "
                    f"expected {', '.join(MANIFEST_KEYS)}"
                ) from None
        key = min((str(err["loc"][0]) for err in errors), key=MANIFEST_KEYS.index)
        raise HarnessError(f"{path}: {EXPECTED[key](raw.get(key))}") from None
    return Implementation(
        id=m.id,
        language=m.language,
        folder=path.parent,
        run=tuple(m.run),
        build=None if m.build is None else tuple(m.build),
        version=None if m.version is None else tuple(m.version),
        devices=tuple(m.devices),
        conv=tuple(m.conv),
        tasks=None if m.tasks is None else tuple(m.tasks),
        model_file=m.model_file,
        effort=dict(raw.get("effort") or {}),
    )


def job_model(impl: Implementation, model: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The job's `model` for `impl`: `conv` only for an implementation that has FFT
    convolution; the others compute every layer directly (the reference the FFT is checked
    against), as the run's start-up line says."""
    if model is None:
        return None
    out = dict(model)
    if "fft" not in impl.conv:
        out.pop("conv", None)
    return out


def conv_runners(
    model: Mapping[str, Any] | None, chosen: Sequence[Implementation], skip_direct: bool
) -> list[Implementation]:
    """Who runs a config (config `conv_skip_direct`): all of `chosen`, or, when `skip_direct`
    and `model.conv` asks for FFT, the baseline (the reference the FFT is checked against) and
    the implementations that have FFT; the others would compute every layer directly, the same
    jobs as at a `direct` point of the sweep."""
    if not skip_direct or "fft" not in ((model or {}).get("conv") or ()):
        return list(chosen)
    return [i for k, i in enumerate(chosen) if k == 0 or "fft" in i.conv]


def conv_note(model: Mapping[str, Any] | None, chosen: Sequence[Implementation]) -> str | None:
    """The start-up line that says who computes which layer by FFT (None without FFT)."""
    conv = (model or {}).get("conv")
    if not conv:
        return None
    layers = ", ".join(f"conv{i + 1}" for i, a in enumerate(conv) if a == "fft")
    fft = [i.id for i in chosen if "fft" in i.conv]
    direct = [i.id for i in chosen if "fft" not in i.conv]
    line = f"model.conv: {layers} by FFT in {', '.join(fft) or 'none of the implementations'}"
    return line + (f"; directly in {', '.join(direct)}" if direct else "")


def check_device(device: str, chosen: Sequence[Implementation]) -> None:
    """Refuse a config whose `device` one of the chosen implementations does not declare."""
    for impl in chosen:
        if device not in impl.devices:
            declared = ", ".join(impl.devices)
            raise HarnessError(
                f"device: {device} is not supported by {impl.id} (its impl.yaml declares "
                f"devices [{declared}]); run it with device: {impl.devices[0]} or leave it out "
                "of implementations"
            )


def tasks_note(tasks: Sequence[str], chosen: Sequence[Implementation]) -> str | None:
    """Refuse a baseline (the first implementation) that lacks one of the config's `tasks`: it
    draws the shared inputs and every check compares with it. Return the start-up line naming
    the tasks each other implementation does not implement (None when all implement all)."""
    if not chosen:
        return None
    baseline = chosen[0]
    for task in tasks:
        if not baseline.implements(task):
            raise HarnessError(
                f"implementations: the baseline {baseline.id} does not implement {task} (its "
                f"impl.yaml declares tasks [{', '.join(baseline.tasks or ())}]); put an "
                "implementation that runs every task first"
            )
    missing = []
    for impl in chosen[1:]:
        lacking = list(dict.fromkeys(t for t in tasks if not impl.implements(t)))
        if lacking:
            missing.append(f"{impl.id} ({', '.join(lacking)})")
    return f"not implemented, so not run: {'; '.join(missing)}" if missing else None


def select(ids: Sequence[str], available: Mapping[str, Implementation]) -> list[Implementation]:
    chosen = []
    for impl_id in ids:
        if impl_id not in available:
            raise HarnessError(
                f"implementations: unknown id {impl_id!r}; available: {', '.join(available)}"
            )
        chosen.append(available[impl_id])
    return chosen


@dataclass(frozen=True)
class BuildRecord:
    impl: str
    ok: bool
    wall_s: float
    log: str


def with_own_interpreter(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the harness's own interpreter's folder first on PATH.

    A build script that asks `python3` on PATH for a Python package (torch-sys, for the libtorch
    inside the torch wheel that rust-tch links) then finds the interpreter the harness runs
    under, whether or not its virtualenv is activated (`.venv/bin/python -m harness ...`)."""
    out = dict(env)
    own = str(Path(sys.executable).parent)
    rest = [p for p in out.get("PATH", "").split(os.pathsep) if p and p != own]
    out["PATH"] = os.pathsep.join([own, *rest])
    return out


def build(impl: Implementation, log_path: Path, env: Mapping[str, str]) -> BuildRecord:
    """Run the manifest's build command once, with the harness's interpreter first on PATH; its
    time is reported, never counted in a task."""
    if impl.build is None:
        return BuildRecord(impl.id, True, 0.0, "")
    t0 = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        try:
            proc = subprocess.run(
                [impl.expand(a) for a in impl.build],
                cwd=impl.folder,
                env=with_own_interpreter(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
            code = proc.returncode
        except FileNotFoundError as e:
            log.write(f"cannot start build: {e}\n".encode())
            code = 127
    return BuildRecord(impl.id, code == 0, round(time.perf_counter() - t0, 3), str(log_path))


def versions(impl: Implementation, env: Mapping[str, str]) -> dict[str, Any]:
    """The implementation's own report of its versions (a JSON object), or an error note."""
    if impl.version is None:
        return {}
    try:
        proc = subprocess.run(
            [impl.expand(a) for a in impl.version],
            cwd=impl.folder,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )
        data = json.loads(proc.stdout.decode("utf-8"))
        if isinstance(data, dict):
            return data
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, UnicodeDecodeError):
        pass
    return {"error": "version command failed"}


def job_env(threads: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every job: thread pools pinned to the job's thread count."""
    env = dict(os.environ if base is None else base)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("PYTHONHASHSEED", "0")
    return env
