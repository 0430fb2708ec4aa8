"""Archives of fake answer runs for the publish tests: one real fake run through the archive's
writer, then copies of its record as other runs (other machines, commits, dates)."""

from __future__ import annotations

from pathlib import Path

from harness.archive.record import Record, record_path
from harness.archive.write import record_bytes, to_record
from harness.results import load
from tests.harness.fakerun import fake_run

ZEN3 = "amd-zen3-avx2-2c"
XEON = "intel-sapphirerapids-avx512-amx-2c"
IMPLS = {
    "python-torch": ["--rate", "100", "--jitter", "0.01"],
    "rust-native": ["--rate", "300", "--jitter", "0.01", "--jitter-seed", "1"],
    "rust-tch": ["--rate", "100", "--jitter", "0.01", "--jitter-seed", "2"],
}
TASKS = [{"step": {"batch": 32, "steps": 2}}, {"forward": {"batch": 64}}, {"sample": {"pairs": 10}}]


def answer_record(folder: Path) -> Record:
    """The record of a real fake `answer` run (step b32, forward b64, sample; three fakes)."""
    _, run_dir = fake_run(
        folder, IMPLS, name="answer", repeats=6, model={"preset": "tiny"}, tasks=TASKS
    )
    return to_record(load(run_dir / "results.json"), run_dir.name)


def variant(
    base: Record, machine_id: str, run_id: str, day: int, commit: str, scale: float = 1.0
) -> Record:
    """`base` as another run: its machine id, run id, start day, commit; rust-native's throughput
    ratios (and intervals) times `scale`."""
    comparisons = [
        c.model_copy(
            update={
                "ratio": c.ratio * scale,
                "ci_low": c.ci_low * scale if c.ci_low is not None else None,
                "ci_high": c.ci_high * scale if c.ci_high is not None else None,
            }
        )
        if c.impl == "rust-native" and c.metric == "pairs_per_s" and c.ratio is not None
        else c
        for c in base.comparisons
    ]
    machine = base.machine.model_copy(update={"machine_id": machine_id})
    return base.model_copy(
        update={
            "run_id": run_id,
            "started_utc": f"2026-12-{day:02d}T10:00:00+00:00",
            "machine": machine,
            "git_commit": commit,
            "git_dirty": False,
            "comparisons": comparisons,
        }
    )


def write(root: Path, record: Record) -> Path:
    path = record_path(root, record.machine.machine_id, record.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(record_bytes(record))
    return path
