"""The two same-run gates (gate/ratios.py): which figure each reads, which way is better,
its reference file and its factors (chosen from calibration runs, gate/calibrate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.gate.reference import RatioReference, cpu_kind
from harness.process.protocol import REPO_ROOT, THROUGHPUT
from harness.results import Results


@dataclass(frozen=True)
class Gate:
    """One same-run ratio gate: which figure it reads, which way is better, its reference."""

    verb: str  # `harness gate VERB`
    name: str  # how messages name it: the ratio gate, a memory reference
    what: str  # the reference's one-line description
    reference_path: Path
    default_factor: float  # against a reference made on the same kind of CPU
    other_cpu_factor: float  # ... on another kind (ratios shift with the microarchitecture)
    higher_is_better: bool
    worse: str  # the verdict of a figure that got worse: slower, larger
    better: str  # ... and better: faster, smaller

    def metric(self, task: str) -> str | None:
        """The figure this gate reads on `task` (None: the task is not gated)."""
        if self.higher_is_better:
            return THROUGHPUT[task][0] if task in THROUGHPUT else None
        return "peak_rss_bytes"

    @property
    def update_command(self) -> str:
        return f"python -m harness gate {self.verb} RUN_DIR --update"

    def is_worse(self, low: float, high: float, factor: float) -> bool:
        return high < 1 / factor if self.higher_is_better else low > factor

    def is_better(self, low: float, high: float, factor: float) -> bool:
        return low > factor if self.higher_is_better else high < 1 / factor

    def limit(self, factor: float, worse: bool = True) -> str:
        """`below 1/1.5 = 0.667` or `above 1.1`: where an interval must lie to count."""
        if self.higher_is_better == worse:
            return f"below 1/{factor:g} = {1 / factor:.3f}"
        return f"above {factor:g}"


# The factors are chosen from calibration runs (docs/reports.md, "Gates"): their false-alarm
# rate on unchanged builds and the smallest slowdown or bloat they catch.
THROUGHPUT_GATE = Gate(
    verb="ratios",
    name="ratio",
    what="same-run throughput ratios impl/baseline of a bench-ci run (harness/gate)",
    reference_path=REPO_ROOT / "results" / "reference" / "ratios.json",
    default_factor=1.1,
    other_cpu_factor=1.5,
    higher_is_better=True,
    worse="slower",
    better="faster",
)
MEMORY_GATE = Gate(
    verb="memory",
    name="memory",
    what="same-run peak-RSS ratios impl/baseline of a bench-ci run (harness/gate)",
    reference_path=REPO_ROOT / "results" / "reference" / "memory.json",
    default_factor=1.1,
    other_cpu_factor=1.5,
    higher_is_better=False,
    worse="larger",
    better="smaller",
)
GATES = {g.verb: g for g in (THROUGHPUT_GATE, MEMORY_GATE)}


def factor_for(results: Results, reference: RatioReference, gate: Gate) -> tuple[float, str]:
    """The gate's factor for this run and reference, and a note saying which and why: the
    calibrated one on the reference's kind of CPU, the loose one on another."""
    ref_machine = reference.machine
    if cpu_kind(ref_machine) == cpu_kind(results.machine):
        return gate.default_factor, f"factor {gate.default_factor:g}: the reference's kind of CPU"
    return gate.other_cpu_factor, (
        f"factor {gate.other_cpu_factor:g}: the reference was made on another kind of CPU "
        f"({ref_machine.cpu_model}, {ref_machine.logical_cores} cores, "
        f"{', '.join(ref_machine.cpu_flags or [])}); refresh it on this one for the "
        f"calibrated factor {gate.default_factor:g}"
    )
