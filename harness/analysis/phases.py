"""Where time and memory go: the sampled CPU and RSS of a run attributed to its phases.

An implementation announces phases with `phase` begin/end events (start-up, load, train,
evaluate, write, ...); `experiment.phases` puts them on the harness clock as
`runs[].phases = [{name, begin_s, end_s}]`. The resource sampler wrote `samples.csv`
(`t_s,rss_bytes,cpu_percent,processes`) on the same clock, in each job's folder.
`attribute` cuts the samples at the phase boundaries: per phase its wall seconds, the number of
samples, the peak and mean RSS, the mean CPU utilisation and the CPU seconds it implies.
Time before the first announced phase is `startup`; time between or after phases is `other`.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from pathlib import Path

from harness.process.monitor import Sample
from harness.results import Phase, PhaseResources, PhaseSummary, Results, Run


def read_samples(path: Path) -> list[Sample]:
    """samples.csv of one job; [] when the file is missing or unreadable."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    out = []
    for row in rows:
        try:
            out.append(
                Sample(
                    float(row["t_s"]),
                    int(row["rss_bytes"]),
                    float(row["cpu_percent"]),
                    int(row["processes"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def intervals(phases: Sequence[Phase], wall_s: float) -> list[tuple[str, float, float]]:
    """Announced phases plus `startup` before the first and `other` in the gaps, in time order."""
    spans = sorted(((p.name, float(p.begin_s), float(p.end_s)) for p in phases), key=lambda s: s[1])
    out: list[tuple[str, float, float]] = []
    t = 0.0
    for name, begin, end in spans:
        if begin > t:
            out.append(("startup" if not out else "other", t, begin))
        out.append((name, begin, end))
        t = max(t, end)
    if wall_s > t:
        out.append(("startup" if not out else "other", t, wall_s))
    return out


def attribute(
    phases: Sequence[Phase], samples: Sequence[Sample], wall_s: float
) -> list[PhaseResources]:
    """Resources per phase; a sample at time t belongs to the span that contains t."""
    rows = []
    for name, begin, end in intervals(phases, wall_s):
        inside = [s for s in samples if begin <= s.t_s < end or (s.t_s == end == wall_s)]
        cpu = [s.cpu_percent for s in inside]
        rss = [s.rss_bytes for s in inside]
        mean_cpu = statistics.fmean(cpu) if cpu else None
        rows.append(
            PhaseResources(
                name=name,
                begin_s=round(begin, 6),
                end_s=round(end, 6),
                wall_s=round(end - begin, 6),
                samples=len(inside),
                peak_rss_bytes=max(rss) if rss else None,
                mean_rss_bytes=round(statistics.fmean(rss)) if rss else None,
                mean_cpu_percent=round(mean_cpu, 1) if mean_cpu is not None else None,
                cpu_s=round(mean_cpu / 100 * (end - begin), 6) if mean_cpu is not None else None,
            )
        )
    return rows


def attribute_run(run: Run, run_dir: Path) -> list[PhaseResources]:
    samples = read_samples(run_dir / run.dir / "samples.csv")
    return attribute(run.phases, samples, float(run.wall_s))


def attribute_all(results: Results, run_dir: Path) -> Results:
    """Every run with its `phase_resources`, each measurement with a per-phase median summary."""
    measurements = []
    for m in results.measurements:
        runs = [r.model_copy(update={"phase_resources": attribute_run(r, run_dir)}) for r in m.runs]
        measurements.append(m.model_copy(update={"runs": runs, "phase_summary": summarize(runs)}))
    return results.model_copy(update={"measurements": measurements})


def summarize(runs: Sequence[Run]) -> list[PhaseSummary]:
    """Per phase (in the order first seen), the median wall seconds and peak RSS of the
    measured runs."""
    walls: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    for run in runs:
        if not run.measured:
            continue
        for row in run.phase_resources or []:
            walls.setdefault(row.name, []).append(row.wall_s)
            peak = peaks.setdefault(row.name, [])
            if row.peak_rss_bytes is not None:
                peak.append(row.peak_rss_bytes)
    return [
        PhaseSummary(
            name=name,
            wall_s=statistics.median(wall),
            peak_rss_bytes=statistics.median(peaks[name]) if peaks[name] else None,
        )
        for name, wall in walls.items()
    ]
