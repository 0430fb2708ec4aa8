"""The one exception type for user mistakes.

A `HarnessError` carries a single line that says what is wrong and what was expected; the CLI
prints it as `error: <message>` and exits 1. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user-facing error: bad config, bad data, a failed precondition."""
