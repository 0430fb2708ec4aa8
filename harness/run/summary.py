"""A measurement's summary over its measured runs, rewritten after every job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.stats import summarize
from harness.process.protocol import THROUGHPUT
from harness.results import Run, Summary, measured, throughput_of


def summarize_runs(task: str, runs: Sequence[Run | Mapping[str, Any]]) -> Summary | None:
    """Medians and spreads of a measurement's measured runs; None while none succeeded."""
    typed = [r if isinstance(r, Run) else Run.model_validate(r) for r in runs]
    ok = measured(typed)
    if not ok:
        return None
    metric, unit = THROUGHPUT.get(task, ("", ""))
    throughput = [v for v in (throughput_of(task, r) for r in ok) if v is not None]
    startup = [r.startup_s for r in ok if r.startup_s is not None]
    fields: dict[str, Any] = {
        "runs": len(ok),
        "failed_runs": sum(1 for r in typed if not r.ok),
        "wall_s": summarize([r.wall_s for r in ok]),
        "cpu_s": summarize([r.user_s + r.sys_s for r in ok]),
        "peak_rss_bytes": summarize([r.peak_rss_bytes for r in ok]),
        "throughput": {"metric": metric, "unit": unit, **summarize(throughput)}
        if throughput
        else None,
    }
    if startup:
        fields["startup_s"] = summarize(startup)
    return Summary.model_validate(fields)
