"""The exception classes of oneshot_torch and the exit code each one means (docs/protocol.md).

Every user-facing failure is a `OneshotError` with a one-line message that says what is wrong
and what was expected; `cli.main` prints it as `error: <message>`, records it in `result.json`
when `out_dir` is known, and exits with the class's `exit_code`:

- `InputError` (2): the job or its inputs are invalid (unknown field, bad value, missing or
  corrupt file, a data set that cannot serve the request);
- `TaskError` (1): the task failed while running (an I/O error, a NaN loss, ...).

Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class OneshotError(Exception):
    """A user-facing failure with a one-line message."""

    exit_code = 1


class InputError(OneshotError):
    """The job or its inputs are invalid: exit code 2."""

    exit_code = 2


class TaskError(OneshotError):
    """The task failed while running: exit code 1."""

    exit_code = 1
