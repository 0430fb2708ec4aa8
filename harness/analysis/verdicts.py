"""What a comparison is called, and the sentences a report (and the README) opens with.

`label` names one comparison (analysis/ratios.py) by a fixed rule, in this order:

- `not compared: <why>`: refused (the contexts differ: threads, batch, seed, data set);
- `not settled`: a spread warning (too few runs, or a spread over `max_rel_iqr`), whatever the
  interval says;
- `faster` / `slower` (`less memory` / `more memory` for peak RSS): significant, that is the
  adjusted p-value (Benjamini-Hochberg over the run) below 0.05 (`significant`, ratios.py) and
  the interval excluding 1 (checked here too);
- `level`: not significant, and the whole interval inside `LEVEL_BAND` (0.95 to 1.05): any
  difference left is under 5%, so the two are level;
- `not settled`: not significant, and the interval reaches outside the band.

`sentences` turns a run's comparisons and checks into a few short sentences, grouped per
implementation and label: the speed figure of each task (its throughput, else wall seconds)
and peak RSS; the other figures stay in the tables. Everything here takes the typed models and
returns plain strings: report/tables.py uses it for the reports' Verdict section, and
`harness publish` for the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.process.protocol import THROUGHPUT
from harness.results import Check, Comparison, Results, Serving

LEVEL_BAND = (0.95, 1.05)  # a non-significant interval inside this band is "level"
DIFFERENT = ("faster", "slower", "less memory", "more memory")
MEMORY = "peak_rss_bytes"

Where = Callable[[Comparison], str]


def label(c: Comparison) -> str:
    """faster, slower, less memory, more memory, level, not settled or not compared: <why>."""
    if c.ratio is None or c.refused:
        return f"not compared: {c.refused or 'no ratio'}"
    if c.warning or c.ci_low is None or c.ci_high is None:
        return "not settled"
    if c.significant and not c.ci_low <= 1 <= c.ci_high:
        better = (c.ratio > 1) == c.higher_is_better
        if c.metric == MEMORY:
            return "less memory" if better else "more memory"
        return "faster" if better else "slower"
    if LEVEL_BAND[0] <= c.ci_low and c.ci_high <= LEVEL_BAND[1]:
        return "level"
    return "not settled"


def ratio_phrase(c: Comparison) -> str:
    """`1.62x [1.48, 1.80]`: the ratio impl / baseline and its 95% interval ('' if none)."""
    if c.ratio is None:
        return ""
    if c.ci_low is None or c.ci_high is None:
        return f"{c.ratio:.2f}x"
    return f"{c.ratio:.2f}x [{c.ci_low:.2f}, {c.ci_high:.2f}]"


def task_where(c: Comparison) -> str:
    """Where a comparison was measured, as the sentences name it: `step (task 2)`."""
    point = f", point {c.point}" if c.point is not None else ""
    return f"{c.task} (task {c.task_index}{point})"


def headline(c: Comparison) -> bool:
    """A figure the sentences speak of: the task's speed figure, or its peak RSS."""
    speed = THROUGHPUT.get(c.task, ("wall_s", ""))[0]
    return c.metric in (speed, MEMORY)


def comparison_sentences(comparisons: Sequence[Comparison], where: Where = task_where) -> list[str]:
    """One sentence per implementation and significant label, then the level, the not settled
    and the refused comparisons, each group in one sentence; headline figures only."""
    shown = [c for c in comparisons if headline(c)]
    if not shown:
        return ["No implementation was compared with a baseline in this run."]
    groups: dict[tuple[str, str, str], list[str]] = {}
    rest: dict[str, list[str]] = {"level": [], "not settled": [], "not compared": []}
    for c in shown:
        name = label(c)
        if name in DIFFERENT:
            groups.setdefault((c.impl, name, c.baseline), []).append(
                f"{where(c)}: {ratio_phrase(c)}"
            )
            continue
        figure = f"{c.impl}'s peak RSS" if c.metric == MEMORY else c.impl
        if name.startswith("not compared"):
            rest["not compared"].append(f"{figure} on {where(c)} ({name.split(': ', 1)[1]})")
        else:
            rest[name].append(f"{figure} on {where(c)} ({ratio_phrase(c)})")
    out = [f"{impl} {_verb(name)} {base} on {'; '.join(items)}." for (impl, name, base), items
           in groups.items()]  # fmt: skip
    baseline = shown[0].baseline
    if rest["level"]:
        out.append(f"Level with {baseline}: {'; '.join(rest['level'])}.")
    if rest["not settled"]:
        out.append(f"Not settled (spread or interval too wide): {'; '.join(rest['not settled'])}.")
    if rest["not compared"]:
        out.append(f"Not compared: {'; '.join(rest['not compared'])}.")
    return out


def _verb(name: str) -> str:
    if name in ("less memory", "more memory"):
        return f"uses {name} (peak RSS) than"
    return f"is {name} than"


def check_sentences(checks: Sequence[Check]) -> list[str]:
    """`Checks: all 12 passed.` or the count and the names of those that failed."""
    if not checks:
        return ["No output checks in this run."]
    failed = [c for c in checks if not c.ok]
    if not failed:
        return [f"Checks: all {len(checks)} passed." if len(checks) > 1 else "Checks: 1 passed."]
    names = "; ".join(
        f"{c.name} ({' vs '.join(c.impls)}, task {c.task_index}"
        + (f", point {c.point}" if c.point is not None else "")
        + ")"
        for c in failed
    )
    return [f"Checks: {len(failed)} of {len(checks)} FAILED: {names}."]


def sentences(results: Results, where: Where = task_where) -> list[str]:
    """The Verdict section of a run's report: comparisons first, then serving, then the checks."""
    return (
        comparison_sentences(results.comparisons or [], where)
        + serving_sentences(results)
        + check_sentences(results.checks)
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000 * seconds:.3g}"


def serving_sentences(results: Results) -> list[str]:
    """One sentence per serve task (and sweep point): the implementations by warm p50, those
    whose answers disagree with float64 left out and named."""
    groups: dict[tuple[int | None, int], list[Serving]] = {}
    for s in results.serving or []:
        groups.setdefault((s.point, s.task_index), []).append(s)
    out = []
    for (point, index), group in groups.items():
        at = f"point {point}, " if point is not None else ""
        counted = [s for s in group if s.agrees is not False]
        if group[0].page_cache == "evict":
            counted.sort(key=lambda s: s.cold_start_s or math.inf)
            ranked = ", ".join(f"{s.impl} {_ms(s.cold_start_s)} ms" for s in counted)
            line = f"Cold start from an evicted page cache ({at}task {index}), fastest first: "
        else:
            counted.sort(key=lambda s: s.latency[0].value_s)
            ranked = ", ".join(
                f"{s.impl} {_ms(s.latency[0].value_s)} ms (p99 {_ms(s.latency[2].value_s)} ms)"
                for s in counted
            )
            line = f"Serving ({at}task {index}, {group[0].arrival}), warm p50 fastest first: "
        line += f"{ranked}."
        if wrong := [s.impl for s in group if s.agrees is False]:
            line += f" Left out, answers unlike float64's: {', '.join(wrong)}."
        out.append(line)
    return out
