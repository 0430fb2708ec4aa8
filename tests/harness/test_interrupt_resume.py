"""An interrupted run keeps every finished job; `--resume` completes it; no child outlives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.harness_cli import run_harness, start_harness

from .fakerun import wait_for_runs

FAKE = Path(__file__).with_name("fake_impl.py")


def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    impls = tmp_path / "impls"
    for name in ("a", "b"):
        folder = impls / name
        folder.mkdir(parents=True)
        run = ["{python}", str(FAKE), "--sleep-s", "0.4", "run", "{job}"]
        (folder / "impl.yaml").write_text(
            json.dumps({"id": name, "language": "python", "run": run})
        )
    data = tmp_path / "data" / "Alpha" / "character01"
    data.mkdir(parents=True)
    (data / "0001_01.png").write_bytes(b"x")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: resume\nthreads: 1\nwarmup: 0\nrepeats: 4\nimplementations: [a, b]\n"
        f"dataset: {{root: {tmp_path / 'data'}}}\ntasks:\n  - sample: {{pairs: 10}}\n"
    )
    env = {**os.environ, "ONESHOT_BENCH_IMPLS": str(impls)}
    return config, env


def fake_children() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(FAKE) in cmd:
            found.append(p)
    return found


def test_sigterm_keeps_finished_jobs_and_resume_completes(tmp_path: Path) -> None:
    config, env = setup(tmp_path)
    out = tmp_path / "run"
    proc = start_harness("run", str(config), "--out", str(out), env=env)
    results = out / "results.json"
    wait_for_runs(results, 3, 60)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert b"--resume" in stderr and b"Traceback" not in stderr
    time.sleep(0.3)
    assert fake_children() == []
    data = json.loads(results.read_text())
    assert data["status"] == "interrupted"
    finished = {
        (m["impl"], r["repeat"]): r["wall_s"] for m in data["measurements"] for r in m["runs"]
    }
    assert 3 <= len(finished) < 8

    resumed = run_harness("run", "--resume", str(out), env=env, timeout=120, text=False)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(results.read_text())
    assert data["status"] == "complete"
    after = {(m["impl"], r["repeat"]): r["wall_s"] for m in data["measurements"] for r in m["runs"]}
    assert len(after) == 8
    assert all(after[k] == v for k, v in finished.items())  # earlier results untouched
    assert all(c["ok"] for c in data["checks"])


def test_jobs_die_with_a_killed_harness(tmp_path: Path) -> None:
    config, env = setup(tmp_path)
    out = tmp_path / "run"
    proc = start_harness("run", str(config), "--out", str(out), env=env, output=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not fake_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_children(), "no job started"
    proc.kill()  # SIGKILL: the harness gets no chance to clean up
    proc.wait()
    time.sleep(0.3)
    assert fake_children() == []
