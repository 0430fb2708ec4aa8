"""The command line of the Python implementations: `python -m <package> run JOB.json | check
JOB.json... | version`.

One `Program` per implementation (oneshot_torch.cli, oneshot_jax.cli) names its id, its
package, its task runner and its version report; `main(program, argv)` does the rest, the same
for all: argument parsing and error reporting only, the work is in the program's `run_task`.
A `OneshotError` becomes one line `error: <message>` on stderr, `result.json` with `ok: false`
when `out_dir` is known, and exit code 2 (invalid input) or 1 (runtime failure). Any other
exception is a bug: it still gets a `result.json` when possible, then propagates with its
traceback. `check` reads and validates each job as `run` does before its `start` event, runs
none and prints one JSON line per job (`job`, `accepted`, `exit_code`, `error`): one process
answers many cases.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oneshot_common.allocator import keep_freed_memory
from oneshot_common.errors import InputError, OneshotError
from oneshot_common.events import Events

if TYPE_CHECKING:
    from oneshot_common.job import Job
    from oneshot_common.tasks import Outcome


@dataclass(frozen=True)
class Program:
    """What makes one Python implementation a program of protocol v1."""

    impl_id: str  # the manifest's id: python-torch, python-jax
    package: str  # the package run with `python -m`; its version is in `versions`
    version: str  # the package's __version__
    description: str  # one line for --help
    run_task: Callable[[Job, Events], Outcome]  # parsed job -> outcome (tasks.dispatch)
    library_versions: Callable[[], dict[str, str]]  # the `version` verb's library report


def _parser(program: Program) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {program.package}", description=program.description
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run one job file and write its result.json")
    run.add_argument("job", help="path of the job file (JSON, protocol v1)")
    check = verbs.add_parser(
        "check", help="validate job files as `run` does before starting; one JSON line per job"
    )
    check.add_argument("jobs", nargs="+", help="paths of the job files")
    verbs.add_parser("version", help="print the versions of Python and the libraries as JSON")
    return parser


def _read_job(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the job file ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON job file ({exc})") from None


def _known_out_dir(raw: object) -> str | None:
    """`out_dir` of a job that may be invalid, if it names an existing folder."""
    out_dir = raw.get("out_dir") if isinstance(raw, dict) else None
    return out_dir if isinstance(out_dir, str) and out_dir and os.path.isdir(out_dir) else None


def _base_versions(program: Program) -> dict[str, str]:
    from oneshot_common.result import versions

    return versions(program.package, program.version)


@dataclass
class _Reading:
    """What is known of a job while it is read, for reporting a failure."""

    out_dir: str | None = None
    task: str = "unknown"


def admit(job_path: str, reading: _Reading) -> Job:
    """Read and parse a job file: everything `run` checks before its `start` event (`check`
    calls it alone, so a job that `check` admits is one that `run` starts)."""
    from oneshot_common.job import parse_job

    raw = _read_job(job_path)
    reading.out_dir = _known_out_dir(raw)
    if isinstance(raw, dict) and isinstance(raw.get("task"), str):
        reading.task = raw["task"]
    job = parse_job(raw)
    if reading.out_dir is None:
        raise InputError(f"out_dir: {job.out_dir!r} is not an existing folder")
    return job


def check(job_paths: Sequence[str]) -> int:
    """One JSON line per job, in order: admitted or refused (with `run`'s exit code and error)."""
    for path in job_paths:
        line: dict[str, object] = {"job": path, "accepted": True, "exit_code": 0}
        try:
            admit(path, _Reading())
        except OneshotError as exc:
            line = {"job": path, "accepted": False, "exit_code": exc.exit_code, "error": str(exc)}
        print(json.dumps(line), flush=True)
    return 0


def run(program: Program, job_path: str, started: float) -> int:
    """Run one job; returns the exit code."""
    from oneshot_common.result import write_result

    events = Events(started)
    reading = _Reading()
    try:
        job = admit(job_path, reading)
        events.start(program.impl_id, job.task)
        outcome = program.run_task(job, events)
        write_result(
            job.out_dir,
            impl=program.impl_id,
            task=job.task,
            ok=True,
            error=None,
            seed=job.seed,
            threads=job.threads,
            metrics=outcome.metrics,
            outputs=outcome.outputs,
            versions={**_base_versions(program), **outcome.versions},
        )
        events.end(ok=True)
        return 0
    except OneshotError as exc:
        message = str(exc)
        print(f"error: {message}", file=sys.stderr)
        _report_failure(program, reading.out_dir, reading.task, message, events)
        return exc.exit_code
    except BaseException as exc:
        message = f"internal error: {type(exc).__name__}: {exc}"
        _report_failure(program, reading.out_dir, reading.task, message, events)
        raise


def _report_failure(
    program: Program, out_dir: str | None, task: str, message: str, events: Events
) -> None:
    from oneshot_common.result import write_result

    if out_dir is not None:
        try:
            write_result(
                out_dir,
                impl=program.impl_id,
                task=task,
                ok=False,
                error=message,
                versions=_base_versions(program),
            )
        except OSError as exc:
            print(f"error: cannot write result.json in {out_dir}: {exc}", file=sys.stderr)
    events.end(ok=False)


def version(program: Program) -> int:
    """Print the versions of Python, the package and its libraries as one JSON object."""
    found = {**_base_versions(program), **program.library_versions()}
    print(json.dumps(found, sort_keys=True))
    return 0


def main(program: Program, argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    args = _parser(program).parse_args(argv)
    keep_freed_memory()  # before any tensor or buffer exists (allocator.py)
    if args.verb == "version":
        return version(program)
    if args.verb == "check":
        return check(args.jobs)
    return run(program, args.job, started if started is not None else time.perf_counter())
