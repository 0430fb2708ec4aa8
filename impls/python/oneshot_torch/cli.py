"""Command line of the Python implementation: `python -m oneshot_torch run JOB.json | version`.

Argument parsing and error reporting only; the work is in `tasks`. A `OneshotError` becomes one
line `error: <message>` on stderr, `result.json` with `ok: false` when `out_dir` is known, and
exit code 2 (invalid input) or 1 (runtime failure). Any other exception is a bug: it still gets
a `result.json` when possible, then propagates with its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from oneshot_torch.allocator import keep_freed_memory
from oneshot_torch.errors import InputError, OneshotError
from oneshot_torch.events import Events


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oneshot_torch",
        description="The PyTorch implementation of oneshot-bench (protocol v1, docs/protocol.md).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run one job file and write its result.json")
    run.add_argument("job", help="path of the job file (JSON, protocol v1)")
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


def run(job_path: str, started: float) -> int:
    """Run one job; returns the exit code."""
    from oneshot_torch.job import parse_job
    from oneshot_torch.result import IMPL_ID, write_result
    from oneshot_torch.tasks import run_task

    events = Events(started)
    out_dir: str | None = None
    raw: object = None
    task = "unknown"
    try:
        raw = _read_job(job_path)
        out_dir = _known_out_dir(raw)
        if isinstance(raw, dict) and isinstance(raw.get("task"), str):
            task = raw["task"]
        job = parse_job(raw)
        if out_dir is None:
            raise InputError(f"out_dir: {job.out_dir!r} is not an existing folder")
        events.start(IMPL_ID, job.task)
        outcome = run_task(job, events)
        write_result(
            out_dir,
            task=job.task,
            ok=True,
            error=None,
            seed=job.seed,
            threads=job.threads,
            metrics=outcome.metrics,
            outputs=outcome.outputs,
            extra_versions=outcome.versions,
        )
        events.end(ok=True)
        return 0
    except OneshotError as exc:
        message = str(exc)
        print(f"error: {message}", file=sys.stderr)
        _report_failure(out_dir, task, message, events)
        return exc.exit_code
    except BaseException as exc:
        _report_failure(out_dir, task, f"internal error: {type(exc).__name__}: {exc}", events)
        raise


def _report_failure(out_dir: str | None, task: str, message: str, events: Events) -> None:
    from oneshot_torch.result import write_result

    if out_dir is not None:
        try:
            write_result(out_dir, task=task, ok=False, error=message)
        except OSError as exc:
            print(f"error: cannot write result.json in {out_dir}: {exc}", file=sys.stderr)
    events.end(ok=False)


def version() -> int:
    """Print the versions of Python, oneshot_torch and its libraries as one JSON object."""
    import numpy
    import PIL
    import safetensors
    import torch

    from oneshot_torch.result import versions

    found = versions()
    for label, module in (
        ("numpy", numpy),
        ("pillow", PIL),
        ("safetensors", safetensors),
        ("torch", torch),
    ):
        found[label] = str(module.__version__)
    found["torch_threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():  # only on a machine where `device: cuda` can run
        found["cuda_device"] = torch.cuda.get_device_name()
        found["torch_cuda"] = str(torch.version.cuda)
    print(json.dumps(found, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    args = _parser().parse_args(argv)
    keep_freed_memory()  # before any tensor exists (allocator.py)
    if args.verb == "version":
        return version()
    return run(args.job, started if started is not None else time.perf_counter())
