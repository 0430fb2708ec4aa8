"""Proof that the gates can fail, on the real implementations (slow: bench-ci runs, callgrind).

rust-native is slowed on purpose with the Rust core's `ONESHOT_EXTRA_WORK=<n>` knob (n turns
of a `black_box` loop inside every timed network call and every data task's timed section) and
bloated with its twin `ONESHOT_EXTRA_MEMORY=<bytes>` (every task holds a written buffer of that
size; impls/rust/core/src/extra_work.rs): the slowed and bloated build must trip the ratio and
the memory gate, and the unchanged build must pass both against a reference of itself made by
another run (an A/A check).

The normal run is the gate's own: `tox -e gate` runs bench-ci once, gates it against the
committed references, and hands that run to these tests in `ONESHOT_GATE_RUN`, so bench-ci is
not measured again; run alone, the tests make their own normal run of the proof's
implementations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED
from harness.gate.ratios import MEMORY_GATE
from tests.harness_cli import run_harness

pytestmark = pytest.mark.slow

# ~100 ms per call on this project's 2-core machine: rust-native's sample, forward and step
# become 10x or more slower, load (one timed section of ~50 ms) 3x: all beyond the factor.
RATIO_EXTRA_WORK = 50_000_000
# ~12 million instructions per call: +15% (forward) to +140% (sample), far beyond 2%.
INSTRUCTION_EXTRA_WORK = 2_000_000
GATE_RUN_ENV = "ONESHOT_GATE_RUN"


def harness(
    *args: str, extra_work: int | None = None, extra_memory: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for var, value in (("ONESHOT_EXTRA_WORK", extra_work), ("ONESHOT_EXTRA_MEMORY", extra_memory)):
        env.pop(var, None)
        if value is not None:
            env[var] = str(value)
    return run_harness(*args, env=env)


# The proofs slow rust-native alone, so they run bench-ci on it and its baseline only (about
# a minute and a half a run rather than bench-ci's four with every implementation), with
# bench-ci's own 5 repeats: with 3, an unchanged rust-native's sampling once moved 1.85x
# [1.13, 4.42] against python-torch, and with one implementation beside the baseline that reads
# as the baseline slowing down, so the A/A check tripped.
PROOF_IDS = ("python-torch", "rust-native")
PROOF_SETS = (f"implementations=[{','.join(PROOF_IDS)}]",)


def bench(out: Path, **knobs: int) -> Path:
    sets = [arg for value in PROOF_SETS for arg in ("--set", value)]
    proc = harness("run", "configs/bench-ci.yaml", *sets, "--out", str(out), **knobs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's own bench-ci run when tox -e gate names it, else one of the proof's own."""
    given = os.environ.get(GATE_RUN_ENV)
    if given:
        run = Path(given)
        assert (run / "results.json").is_file(), f"{GATE_RUN_ENV}={given}: no results.json"
        return run
    return bench(tmp_path_factory.mktemp("normal") / "run")


@pytest.fixture(scope="module")
def references(normal_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ratio and memory references made from the normal run, for the proof's figures."""
    folder = tmp_path_factory.mktemp("gate-references")
    out = {}
    for verb in ("ratios", "memory"):
        path = folder / f"{verb}.json"
        proc = harness("gate", verb, str(normal_run), "--update", "--reference", str(path))
        assert proc.returncode == EXIT_PASS, proc.stderr
        doc = json.loads(path.read_text())
        doc["figures"] = [f for f in doc["figures"] if f["impl"] in PROOF_IDS]
        assert {f["impl"] for f in doc["figures"]} == {"rust-native"}
        path.write_text(json.dumps(doc))
        out[verb] = path
    return out


def working_set(run: Path, impl: str) -> int:
    """The largest exact peak RSS of `impl`'s jobs in a run, in bytes."""
    results = json.loads((run / "results.json").read_text())
    peaks = [
        r["peak_rss_bytes"]
        for m in results["measurements"]
        if m["impl"] == impl
        for r in m["runs"]
        if r.get("peak_rss_bytes")
    ]
    assert peaks, f"{run}: no peak RSS of {impl}"
    return int(max(peaks))


def gate(verb: str, run: Path, reference: Path) -> subprocess.CompletedProcess[str]:
    return harness("gate", verb, str(run), "--reference", str(reference))


def test_an_unchanged_build_passes_both_gates_against_another_run(
    references: dict[str, Path], tmp_path: Path
) -> None:
    run = bench(tmp_path / "again")
    for verb, name in (("ratios", "ratio gate"), ("memory", "memory gate")):
        proc = gate(verb, run, references[verb])
        assert proc.returncode == EXIT_PASS, proc.stdout + proc.stderr
        assert proc.stdout.count("| rust-native |") == 4 and f"{name}: passed" in proc.stdout


def test_a_slowed_and_bloated_rust_native_trips_both_gates(
    normal_run: Path, references: dict[str, Path], tmp_path: Path
) -> None:
    ballast = working_set(normal_run, "rust-native")  # its working set again: twice the RSS
    run = bench(tmp_path / "worse", extra_work=RATIO_EXTRA_WORK, extra_memory=ballast)

    proc = gate("ratios", run, references["ratios"])
    assert proc.returncode == EXIT_TRIPPED, proc.stdout + proc.stderr
    tripped = [line for line in proc.stdout.splitlines() if line.startswith("TRIPPED:")]
    # the network tasks and sampling at least (load has one timed section: usually, not surely)
    for task in ("sample (task 0)", "forward (task 2)", "step (task 3)"):
        assert any(line.startswith(f"TRIPPED: {task} rust-native") for line in tripped), tripped
    assert all("reference" in line and "below 1/" in line for line in tripped)

    proc = gate("memory", run, references["memory"])
    assert proc.returncode == EXIT_TRIPPED, proc.stdout + proc.stderr
    tripped = [line for line in proc.stdout.splitlines() if line.startswith("TRIPPED:")]
    assert len(tripped) == 4, tripped  # every task of rust-native
    above = f"above {MEMORY_GATE.default_factor:g}"
    assert all("peak_rss_bytes ratio" in line and above in line for line in tripped)


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
