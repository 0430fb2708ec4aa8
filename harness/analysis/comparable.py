"""What two runs must share to be compared, and the percentage a comparison allows.

`harness diff` (report/diff.py) and the same-run gates (gate/ratios.py, against a reference
made from an earlier run) both compare a run's config with another's without the keys that say
how it was measured; `diff --threshold 5%` and `gate instructions --tolerance 2%` both read a
percentage from the command line.
"""

from __future__ import annotations

from harness.errors import HarnessError

# Config keys that change how a run is measured, not what is measured.
RUN_CONTROL_KEYS = (
    "name",
    "repeats",
    "warmup",
    "monitor",
    "timeout_s",
    "memory_limit_mb",
    "implementations",
    "roofline",
    "comparisons",
)


def parse_percentage(text: str, flag: str, example: str, below: float, bounds: str) -> float:
    """'5%' or '0.05' -> 0.05; HarnessError naming `flag` when it is no number or is not in
    [0, below) (`bounds` says the range in words, `example` shows a valid value)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise HarnessError(f"{flag} {text!r}: expected a percentage such as {example}") from None
    if not 0 <= value < below:
        raise HarnessError(f"{flag} {text!r}: expected a percentage {bounds}")
    return value
