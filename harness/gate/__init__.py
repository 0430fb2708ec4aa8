"""CI benchmark gates that can fail (docs/reports.md, "Gates").

- `ratios`: the same-run ratio of every implementation to the baseline (configs/bench-ci.yaml)
  against results/reference/ratios.json; machine speed cancels out, a slowed implementation
  does not.
- `instructions`: instruction counts (valgrind's callgrind) of small fixed single-thread jobs
  of the Rust binaries against results/reference/instructions.json; counts do not depend on
  the neighbours' load.

Both print a table of what they compared and exit 0 (pass), 1 (a gate tripped: the figure and
the reference on a `TRIPPED:` line) or 2 (cannot compare: one line saying why).
"""

from __future__ import annotations

from datetime import UTC, datetime

EXIT_PASS = 0
EXIT_TRIPPED = 1
EXIT_REFUSED = 2


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, columns padded so the plain text reads as a table too."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)]) + "\n"
