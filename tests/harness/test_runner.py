"""The runner and monitor against a fake implementation: exact peak memory, faults, timeouts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.process.impls import job_env
from harness.process.runner import run_process

FAKE = Path(__file__).with_name("fake_impl.py")


def run_fake(tmp_path: Path, *args: str, timeout_s: float = 30.0, task: str = "sample"):  # type: ignore[no-untyped-def]
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"task": task, "out_dir": str(tmp_path)}))
    cmd = [sys.executable, str(FAKE), *args, "run", str(job)]
    return run_process(
        cmd, cwd=tmp_path, env=job_env(1), log_dir=tmp_path, timeout_s=timeout_s, interval_s=0.02
    )


def test_exact_peak_rss_of_an_allocation(tmp_path: Path) -> None:
    record = run_fake(tmp_path, "--alloc-mb", "300", "--sleep-s", "0.3")
    assert record.ok
    # 300 MiB touched plus the interpreter (~10-20 MiB): within a few percent of 300 MiB + base.
    assert 300 * 2**20 <= record.peak_rss_bytes <= 340 * 2**20
    sampled = max(s.rss_bytes for s in record.samples)
    assert sampled <= record.peak_rss_bytes * 1.02
    assert sampled >= 0.9 * 300 * 2**20


def test_records_events_cpu_and_startup(tmp_path: Path) -> None:
    record = run_fake(tmp_path, "--sleep-s", "0.2")
    kinds = [e.kind for e in record.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "progress" in kinds
    assert record.startup_s is not None and 0 < record.startup_s < record.wall_s
    assert record.wall_s >= 0.2
    assert (tmp_path / "samples.csv").read_text().startswith("t_s,rss_bytes,cpu_percent")
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == len(record.events)


def test_crash_keeps_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    record = run_fake(tmp_path, "--mode", "crash")
    assert not record.ok and record.exit_code == 3 and record.signal is None
    assert "fake crash as asked" in record.stderr_tail


def test_signal_is_recorded(tmp_path: Path) -> None:
    record = run_fake(tmp_path, "--mode", "signal")
    assert record.exit_code is None and record.signal == 9


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.process_iter()}
    t0 = time.perf_counter()
    record = run_fake(tmp_path, "--mode", "spawn", timeout_s=1.5)
    assert record.timed_out and not record.ok
    assert time.perf_counter() - t0 < 10
    time.sleep(0.2)
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.pid not in before and "time.sleep(600)" in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"])
def test_job_env_pins_thread_pools(var: str) -> None:
    assert job_env(3, {})[var] == "3"
    assert job_env(3, {"OPENBLAS_CORETYPE": "x"})["OPENBLAS_CORETYPE"] == "x"
    assert "OPENBLAS_CORETYPE" not in job_env(3, {})  # never set or changed by the harness


def test_memory_cap_kills_and_reports_out_of_memory(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"task": "sample", "out_dir": str(tmp_path)}))
    cmd = [sys.executable, str(FAKE), "--alloc-mb", "400", "--sleep-s", "5", "run", str(job)]
    record = run_process(
        cmd,
        cwd=tmp_path,
        env=job_env(1),
        log_dir=tmp_path,
        timeout_s=30,
        interval_s=0.02,
        memory_limit_bytes=200 << 20,
    )
    assert not record.ok and record.signal == 9
    assert record.out_of_memory_bytes is not None and record.out_of_memory_bytes > 200 << 20
    assert record.wall_s < 5
