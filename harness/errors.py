"""The one exception type for user mistakes.

A `HarnessError` carries a single line that says what is wrong and what was expected; the CLI
prints it as `error: <message>` and exits 1. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class HarnessError(Exception):
    """A user-facing error: bad config, bad data, a failed precondition."""


def first_error(e: ValidationError) -> str:
    """'<where>: <what>' of a validation error's first complaint (the dotted field path)."""
    first = e.errors()[0]
    at = ".".join(str(p) for p in first["loc"]) or "top level"
    return f"{at}: {first['msg']}"
