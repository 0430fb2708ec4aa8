"""Proof that the gates can fail, on the real implementations (slow: bench-ci runs, callgrind).

rust-native is slowed on purpose with the Rust core's `ONESHOT_EXTRA_WORK=<n>` knob (n turns
of a `black_box` loop inside every timed network call and every data task's timed section,
impls/rust/core/src/extra_work.rs): the slowed build must trip each gate, and the unchanged
build must pass against a reference of itself made by another run (an A/A check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED
from harness.process.protocol import REPO_ROOT

pytestmark = pytest.mark.slow

# ~100 ms per call on this project's 2-core machine: rust-native's sample, forward and step
# become 10x or more slower, load (one timed section of ~50 ms) 3x: all beyond the factor.
RATIO_EXTRA_WORK = 50_000_000
# ~12 million instructions per call: +15% (forward) to +140% (sample), far beyond 2%.
INSTRUCTION_EXTRA_WORK = 2_000_000


def harness(*args: str, extra_work: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("ONESHOT_EXTRA_WORK", None)
    if extra_work is not None:
        env["ONESHOT_EXTRA_WORK"] = str(extra_work)
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# The proofs slow rust-native alone, so they run bench-ci on it and its baseline only (about
# 2 minutes a run rather than bench-ci's every implementation).
PROOF_IMPLS = "implementations=[python-torch,rust-native]"


def bench(out: Path, extra_work: int | None = None) -> Path:
    proc = harness(
        "run",
        "configs/bench-ci.yaml",
        "--set",
        PROOF_IMPLS,
        "--out",
        str(out),
        extra_work=extra_work,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def ratio_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference made from one normal bench-ci run."""
    folder = tmp_path_factory.mktemp("ratio-gate")
    run = bench(folder / "reference-run")
    reference = folder / "ratios.json"
    proc = harness("gate", "ratios", str(run), "--update", "--reference", str(reference))
    assert proc.returncode == EXIT_PASS, proc.stderr
    return reference


def test_an_unchanged_build_passes_the_ratio_gate_against_another_run(
    ratio_reference: Path, tmp_path: Path
) -> None:
    run = bench(tmp_path / "again")
    proc = harness("gate", "ratios", str(run), "--reference", str(ratio_reference))
    assert proc.returncode == EXIT_PASS, proc.stdout + proc.stderr
    assert proc.stdout.count("| rust-native |") == 4 and "ratio gate: passed" in proc.stdout


def test_a_slowed_rust_native_trips_the_ratio_gate(ratio_reference: Path, tmp_path: Path) -> None:
    run = bench(tmp_path / "slowed", extra_work=RATIO_EXTRA_WORK)
    proc = harness("gate", "ratios", str(run), "--reference", str(ratio_reference))
    assert proc.returncode == EXIT_TRIPPED, proc.stdout + proc.stderr
    tripped = [line for line in proc.stdout.splitlines() if line.startswith("TRIPPED:")]
    # the network tasks and sampling at least (load has one timed section: usually, not surely)
    for task in ("sample (task 0)", "forward (task 2)", "step (task 3)"):
        assert any(line.startswith(f"TRIPPED: {task} rust-native") for line in tripped), tripped
    assert all("reference" in line and "below 1/" in line for line in tripped)


def need_valgrind() -> None:
    if shutil.which("valgrind") is None:
        why = "valgrind is not installed (tests/ensure_valgrind.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {why}; the instruction gate must run in CI")
        pytest.skip(why)


def test_the_instruction_gate_passes_an_unchanged_build_and_trips_a_slowed_one(
    tmp_path: Path,
) -> None:
    need_valgrind()
    reference = tmp_path / "instructions.json"
    proc = harness("gate", "instructions", "--update", "--reference", str(reference))
    assert proc.returncode == EXIT_PASS, proc.stderr
    counts = json.loads(reference.read_text())["impls"]["rust-native"]["instructions"]
    assert set(counts) == {"sample", "load", "forward", "step"}

    proc = harness("gate", "instructions", "--reference", str(reference))  # A/A
    assert proc.returncode == EXIT_PASS, proc.stdout + proc.stderr
    assert proc.stdout.count("| rust-native |") == 4

    slowed = harness(
        "gate", "instructions", "--reference", str(reference), extra_work=INSTRUCTION_EXTRA_WORK
    )
    assert slowed.returncode == EXIT_TRIPPED, slowed.stdout + slowed.stderr
    tripped = [line for line in slowed.stdout.splitlines() if line.startswith("TRIPPED:")]
    assert len(tripped) == 4, tripped
    assert all("instructions, reference" in line for line in tripped)

    doc = json.loads(reference.read_text())
    doc["impls"]["rust-native"]["rustc"] = "rustc 0.0.1 (000000000 2015-01-01)"
    reference.write_text(json.dumps(doc))
    refused = harness("gate", "instructions", "--reference", str(reference))
    assert refused.returncode == EXIT_REFUSED
    (line,) = refused.stderr.strip().splitlines()
    assert "rustc 0.0.1" in line and "not comparable" in line
