"""A measurement's summary over its measured runs, rewritten after every job."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.stats import summarize
from harness.process.protocol import THROUGHPUT
from harness.results import Run, Summary, Throughput, measured, throughput_of


def summarize_runs(task: str, runs: Sequence[Run]) -> Summary | None:
    """Medians and spreads of a measurement's measured runs; None while none succeeded."""
    ok = measured(runs)
    if not ok:
        return None
    metric, unit = THROUGHPUT.get(task, ("", ""))
    throughput = [v for v in (throughput_of(task, r) for r in ok) if v is not None]
    startup = [r.startup_s for r in ok if r.startup_s is not None]
    tp = summarize(throughput) if throughput else None
    return Summary(
        runs=len(ok),
        failed_runs=sum(1 for r in runs if not r.ok),
        wall_s=summarize([r.wall_s for r in ok]),
        cpu_s=summarize([r.user_s + r.sys_s for r in ok]),
        peak_rss_bytes=summarize([r.peak_rss_bytes for r in ok]),
        throughput=Throughput(metric=metric, unit=unit, **dict(tp)) if tp else None,
        **({"startup_s": summarize(startup)} if startup else {}),
    )
