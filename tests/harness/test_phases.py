"""Sampled CPU and RSS attributed to the phases an implementation announced."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.phases import attribute, intervals, read_samples
from harness.process.monitor import Sample
from harness.results import Phase
from tests.harness.fakerun import fake_run


def test_intervals_add_startup_and_gaps() -> None:
    phases = [Phase(name="load", begin_s=0.2, end_s=0.5), Phase(name="train", begin_s=0.6,
              end_s=1.5)]  # fmt: skip
    assert intervals(phases, 2.0) == [
        ("startup", 0.0, 0.2),
        ("load", 0.2, 0.5),
        ("other", 0.5, 0.6),
        ("train", 0.6, 1.5),
        ("other", 1.5, 2.0),
    ]
    assert intervals([], 1.0) == [("startup", 0.0, 1.0)]


def test_samples_are_attributed_to_the_phase_that_contains_them() -> None:
    samples = [
        Sample(0.05, 10 << 20, 50.0, 1),
        Sample(0.25, 40 << 20, 100.0, 1),
        Sample(0.35, 60 << 20, 200.0, 1),
        Sample(0.9, 20 << 20, 10.0, 1),
    ]
    rows = {r.name: r for r in attribute([Phase(name="load", begin_s=0.2, end_s=0.5)],
                                         samples, 1.0)}  # fmt: skip
    assert rows["startup"].samples == 1 and rows["startup"].peak_rss_bytes == 10 << 20
    load = rows["load"]
    assert load.samples == 2 and load.peak_rss_bytes == 60 << 20
    assert load.mean_cpu_percent == 150.0
    assert load.cpu_s == pytest.approx(1.5 * 0.3)
    assert rows["other"].wall_s == pytest.approx(0.5) and rows["other"].samples == 1


def test_missing_samples_file_gives_no_samples(tmp_path: Path) -> None:
    assert read_samples(tmp_path / "nope.csv") == []


def test_a_run_attributes_the_fake_allocation_to_its_work_phase(tmp_path: Path) -> None:
    doc, _ = fake_run(
        tmp_path, {"a": ["--alloc-mb", "120", "--sleep-s", "0.6"]}, repeats=1, warmup=0
    )
    (run,) = doc["measurements"][0]["runs"]
    rows = {r["name"]: r for r in run["phase_resources"]}
    assert set(rows) >= {"startup", "work"}
    work = rows["work"]
    assert work["samples"] >= 3 and work["wall_s"] >= 0.6
    # the fake touches 120 MiB inside `work`: the phase's sampled peak holds it, start-up does
    # not (on a loaded machine start-up may end before its first sample: no peak at all)
    assert work["peak_rss_bytes"] - (rows["startup"]["peak_rss_bytes"] or 0) > 100 << 20
    summary = {p["name"]: p for p in doc["measurements"][0]["phase_summary"]}
    assert summary["work"]["peak_rss_bytes"] == work["peak_rss_bytes"]
