"""`python -m oneshot_torch.compiled run JOB.json | version`: python-torch-compile's program.

python-torch's program with torch.compile switched on (compiling.py): the same tasks, files,
errors and exit codes, its own implementation id, and the compiler in its versions.
"""

import time

STARTED = time.perf_counter()

import dataclasses  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from oneshot_common import cli  # noqa: E402
from oneshot_common.events import Events  # noqa: E402
from oneshot_common.job import Job  # noqa: E402
from oneshot_common.tasks import Outcome  # noqa: E402

from oneshot_torch import compiling  # noqa: E402
from oneshot_torch.cli import PROGRAM, library_versions  # noqa: E402


def compiled_versions() -> dict[str, str]:
    """python-torch's library versions, plus the compiler backend and the C++ compiler."""
    import shutil
    import subprocess

    found = library_versions()
    found["torch_compile"] = COMPILER
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is not None:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
        found["cxx"] = out.stdout.splitlines()[0] if out.stdout else cxx
    return found


def run_task(job: Job, events: Events) -> Outcome:
    """python-torch's task, with the compiler recorded in result.json's versions."""
    outcome = PROGRAM.run_task(job, events)
    extra = {"torch_compile": COMPILER} if compiling.used() else {}
    return dataclasses.replace(outcome, versions={**outcome.versions, **extra})


COMPILER = "inductor, dynamic=False"

PROGRAM_COMPILED = dataclasses.replace(
    PROGRAM,
    impl_id="python-torch-compile",
    package="oneshot_torch.compiled",
    description="python-torch through torch.compile (inductor, CPU); protocol v1.",
    run_task=run_task,
    library_versions=compiled_versions,
)


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    compiling.enable()
    return cli.main(PROGRAM_COMPILED, argv, started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], started=STARTED))
