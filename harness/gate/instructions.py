"""The instruction-count gate: `python -m harness gate instructions [--update]`.

Small fixed single-thread jobs of the Rust binaries run under `valgrind --tool=callgrind`; the
total instructions executed (`Ir`, the `totals:` line of the callgrind output) are compared with
`results/reference/instructions.json`. Counts do not depend on the machine's load or speed, so
the tolerance can be a few percent where a timing gate needs a factor.

The jobs (`JOBS`), on the synthetic data set the harness writes (`harness data synthetic`),
`threads: 1` (a rayon pool of one worker: no idle spinning whose length depends on timing):

- `sample`: 20,000 pairs;
- `load`: decode the images of 150 pairs (a few hundred images);
- `forward`: the `tiny` network on 256 pairs, batch 64;
- `step`: 8 training steps of the `tiny` network at batch 32.

The binaries are built for valgrind, apart from the release build the harness measures:
valgrind 3.19 does not decode AVX-512, so the build uses `RUSTFLAGS="-C target-cpu=x86-64-v3"`
(AVX2, FMA) into its own target folder (`<workspace>/target/callgrind`), and the gemm crate's
run-time dispatch sees valgrind's CPUID without AVX-512.

Counts depend on the compiler: the reference records `rustc --version` and the gate refuses
(exit 2, one line) to compare against a reference made by another rustc. It also records the
binary's own versions (`oneshot version`: its crates) and a checksum of Cargo.lock; a changed
lock file is noted, not refused (new crate versions are code changes the gate should see).

Exit 0: every count within the tolerance (or below it: noted); 1: a count rose beyond the
tolerance (`TRIPPED:` with the count and the reference); 2: cannot compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.comparable import parse_percentage
from harness.errors import HarnessError
from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED, markdown_table, utc_now
from harness.gate.reference import InstructionCounts, InstructionMachine, InstructionReference
from harness.gate.reference import read_reference as read_file
from harness.gate.reference import write_reference as write_file
from harness.process.impls import Implementation, discover, with_own_interpreter
from harness.process.protocol import REPO_ROOT, make_job, write_job
from harness.run.presets import PRESETS

REFERENCE_PATH = REPO_ROOT / "results" / "reference" / "instructions.json"
REFERENCE_FORMAT = 1
# Measured run-to-run spread: 0 (identical counts) for rust-native (docs/reports.md, "Gates");
# 2% leaves room for what a job's paths do (a longer temporary folder name) and nothing else.
DEFAULT_TOLERANCE = 0.02
DEFAULT_IMPLS = ("rust-native",)
VALGRIND = "valgrind"
CALLGRIND_RUSTFLAGS = "-C target-cpu=x86-64-v3"
CALLGRIND_TARGET = "target/callgrind"
SEED = 0
UPDATE_COMMAND = "python -m harness gate instructions --update"

TINY = PRESETS["tiny"]


@dataclass(frozen=True)
class JobSpec:
    """One fixed job: the task, its params, the model and which prepared pair file it reads."""

    name: str
    task: str
    params: Mapping[str, Any]
    model: Mapping[str, Any] | None = None
    pairs: str | None = None  # key of PREPARED


# Pair files made once per gate run by the binary itself (natively, not under valgrind).
PREPARED = {"pairs150": 150, "pairs256": 256}
JOBS = (
    JobSpec("sample", "sample", {"pairs": 20000}),
    JobSpec("load", "load", {"source": "pairs"}, pairs="pairs150"),
    JobSpec("forward", "forward", {"batch": 64, "warmup_batches": 0}, TINY, "pairs256"),
    JobSpec(
        "step",
        "step",
        {"steps": 8, "batch": 32, "warmup_steps": 0, "init": "he"},
        TINY,
        "pairs256",
    ),
)


def job_table() -> dict[str, Any]:
    """The job definitions as the reference records them (a changed job set is refused)."""
    return {
        j.name: {
            "task": j.task,
            "params": dict(j.params),
            "model": dict(j.model) if j.model else None,
            "pairs": PREPARED[j.pairs] if j.pairs else None,
        }
        for j in JOBS
    }


# --- building ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    impl: str
    path: Path
    workspace: Path
    versions: dict[str, Any]
    rustc: str
    lock_sha256: str | None


def cargo_of(impl: Implementation) -> tuple[Path, str]:
    """(workspace manifest, package) of a Rust implementation, from its manifest's `effort`."""
    cargo = impl.effort.get("cargo") if impl.effort else None
    if not isinstance(cargo, Mapping) or "manifest" not in cargo or "package" not in cargo:
        raise HarnessError(
            f"{impl.id}: its impl.yaml names no `effort: cargo: {{manifest, package}}`; "
            "the instruction gate builds from it"
        )
    return (impl.folder / str(cargo["manifest"])).resolve(), str(cargo["package"])


def toolchain(workspace: Path) -> str:
    """`rustc --version` as cargo would run it in `workspace` (rust-toolchain files apply)."""
    proc = subprocess.run(
        ["rustc", "--version"], cwd=workspace, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"


def build(impl: Implementation, log: Path) -> Binary:
    """The callgrind build of one implementation (x86-64-v3, its own target folder)."""
    manifest, package = cargo_of(impl)
    workspace = manifest.parent
    target = workspace / CALLGRIND_TARGET
    env = with_own_interpreter(
        dict(os.environ, CARGO_TARGET_DIR=str(target), RUSTFLAGS=CALLGRIND_RUSTFLAGS)
    )
    cmd = ["cargo", "build", "--release", "--locked", "-p", package]
    cmd += ["--manifest-path", str(manifest)]
    with log.open("wb") as out:
        proc = subprocess.run(cmd, cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise HarnessError(f"{impl.id}: the callgrind build failed (exit {proc.returncode}): {log}")
    path = target / "release" / Path(impl.run[0]).name
    if not path.is_file():
        raise HarnessError(f"{impl.id}: the build made no {path}")
    version = subprocess.run(
        [str(path), "version"], capture_output=True, text=True, check=False
    ).stdout
    try:
        versions = json.loads(version)
    except json.JSONDecodeError:
        raise HarnessError(f"{path} version: not a JSON object ({version[:80]!r})") from None
    rustc = toolchain(workspace)
    lock = workspace / "Cargo.lock"
    sha = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None
    return Binary(impl.id, path, workspace, versions, rustc, sha)


# --- running -----------------------------------------------------------------------------------


def valgrind_version() -> str:
    if shutil.which(VALGRIND) is None:
        raise HarnessError(
            "valgrind is not installed (tests/ensure_valgrind.sh installs Debian's valgrind)"
        )
    proc = subprocess.run([VALGRIND, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def totals(callgrind_out: Path) -> int:
    """Total `Ir` of a callgrind output file (its `totals:` line, else `summary:`)."""
    found: dict[str, int] = {}
    for line in callgrind_out.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, rest = line.partition(":")
        if key in ("totals", "summary") and rest.split():
            found[key] = int(rest.split()[0])
    if not found:
        raise HarnessError(f"{callgrind_out}: no totals line (not a callgrind output?)")
    return found.get("totals", found.get("summary", 0))


def _job(spec: JobSpec, out_dir: Path, root: Path, inputs: Mapping[str, Path]) -> dict[str, Any]:
    return make_job(
        task=spec.task,
        seed=SEED,
        threads=1,
        out_dir=out_dir,
        root=root,
        eval_root=None,
        params=spec.params,
        pairs=inputs[spec.pairs] if spec.pairs else None,
        model=spec.model,
    )


def _run(cmd: Sequence[str], cwd: Path, what: str, env: Mapping[str, str]) -> None:
    proc = subprocess.run(list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise HarnessError(f"{what} failed (exit {proc.returncode}): {last}")


def count(binary: Binary, work: Path, root: Path, repeats: int = 1) -> dict[str, list[int]]:
    """Instruction counts of every job of `JOBS`, `repeats` times each, in job order."""
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    inputs: dict[str, Path] = {}
    for key, n in PREPARED.items():
        out = work / f"prepare-{key}"
        out.mkdir(parents=True)
        spec = JobSpec(key, "sample", {"pairs": n})
        write_job(out / "job.json", _job(spec, out, root, {}))
        _run([str(binary.path), "run", str(out / "job.json")], out, f"{binary.impl} {key}", env)
        inputs[key] = out / "pairs.tsv"
    counts: dict[str, list[int]] = {}
    for spec in JOBS:
        for r in range(repeats):
            out = work / f"{spec.name}-r{r}"
            out.mkdir(parents=True)
            write_job(out / "job.json", _job(spec, out, root, inputs))
            cg = out / "callgrind.out"
            cmd = [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={cg}"]
            cmd += [str(binary.path), "run", str(out / "job.json")]
            _run(cmd, out, f"{binary.impl} {spec.name} under callgrind", env)
            counts.setdefault(spec.name, []).append(totals(cg))
    return counts


def synthetic_root(work: Path) -> Path:
    """The default synthetic data set, written where `harness data synthetic` would."""
    from harness.data.synthetic import write_synthetic

    out = work / "synthetic"
    write_synthetic(out, alphabets=5, characters=10, drawers=20, seed=0)
    return out


@dataclass(frozen=True)
class Measured:
    binary: Binary
    counts: dict[str, list[int]]


def measure(
    impl_ids: Sequence[str], work: Path, repeats: int = 1, root: Path | None = None
) -> list[Measured]:
    """Build and count every named implementation."""
    valgrind_version()
    available = discover()
    unknown = [i for i in impl_ids if i not in available]
    if unknown:
        raise HarnessError(f"unknown implementation {unknown[0]}; known: {', '.join(available)}")
    root = root or synthetic_root(work)
    out: list[Measured] = []
    for impl_id in impl_ids:
        impl = available[impl_id]
        if impl.language != "rust":
            raise HarnessError(f"{impl_id}: the instruction gate runs Rust binaries only")
        folder = work / impl_id
        folder.mkdir(parents=True)
        binary = build(impl, folder / "build.log")
        out.append(Measured(binary, count(binary, folder, root, repeats)))
    return out


# --- the reference and the rule ------------------------------------------------------------------


def make_reference(measured: Sequence[Measured]) -> InstructionReference:
    from harness.analysis.machine import cpu_info, git_state

    model, _ = cpu_info()
    git = git_state()
    return InstructionReference(
        format_version=REFERENCE_FORMAT,
        what="instructions (callgrind Ir) of fixed single-thread jobs (harness/gate)",
        made_by=UPDATE_COMMAND,
        made_utc=utc_now(),
        git_commit=git["git_commit"],
        git_dirty=git["git_dirty"],
        machine=InstructionMachine(cpu_model=model, valgrind=valgrind_version()),
        rustflags=CALLGRIND_RUSTFLAGS,
        jobs=job_table(),
        impls={
            m.binary.impl: InstructionCounts(
                rustc=m.binary.rustc,
                versions=m.binary.versions,
                cargo_lock_sha256=m.binary.lock_sha256,
                instructions={job: min(c) for job, c in m.counts.items()},
            )
            for m in measured
        },
    )


def write_reference(doc: InstructionReference, path: Path) -> None:
    write_file(doc, path)


def read_reference(path: Path) -> InstructionReference:
    return read_file(
        path,
        "instruction",
        UPDATE_COMMAND,
        REFERENCE_FORMAT,
        ("impls", dict),
        remake=False,
        model=InstructionReference,
    )


def check_comparable(reference: InstructionReference, impl: str, rustc: str) -> None:
    """HarnessError (exit 2) when the reference cannot judge this build."""
    if reference.jobs != job_table():
        raise HarnessError(
            f"the reference's jobs differ from this gate's; make a new one with `{UPDATE_COMMAND}`"
        )
    entry = reference.impls.get(impl)
    if entry is None:
        raise HarnessError(f"the reference has no counts of {impl}; add them with --update")
    if entry.rustc != rustc:
        raise HarnessError(
            f"{impl}: the reference was made by `{entry.rustc}`, this build by "
            f"`{rustc}`: instruction counts of different compilers are not comparable; make a "
            f"new reference with `{UPDATE_COMMAND}`"
        )


@dataclass(frozen=True)
class Row:
    impl: str
    job: str
    reference: int
    counts: tuple[int, ...]
    change: float  # min(counts) / reference - 1
    verdict: str  # ok | more | fewer


def evaluate(
    reference: InstructionReference, measured: Sequence[Measured], tolerance: float
) -> tuple[list[Row], list[str], list[str]]:
    """(rows, tripped lines, notes); HarnessError when not comparable."""
    rows: list[Row] = []
    tripped: list[str] = []
    notes: list[str] = []
    for m in measured:
        check_comparable(reference, m.binary.impl, m.binary.rustc)
        entry = reference.impls[m.binary.impl]
        if entry.cargo_lock_sha256 != m.binary.lock_sha256:
            notes.append(
                f"note: {m.binary.impl}: Cargo.lock differs from the reference's (crate "
                "versions may have changed; their counts are what the gate compares)"
            )
        for job, counts in m.counts.items():
            ref = entry.instructions[job]
            now = min(counts)
            change = now / ref - 1
            verdict = "more" if change > tolerance else ("fewer" if change < -tolerance else "ok")
            rows.append(Row(m.binary.impl, job, ref, tuple(counts), change, verdict))
            if verdict == "more":
                tripped.append(
                    f"TRIPPED: {m.binary.impl} {job}: {now:,} instructions, reference {ref:,} "
                    f"(+{100 * change:.2f}%, over the tolerance of {100 * tolerance:g}%)"
                )
            elif verdict == "fewer":
                notes.append(
                    f"note: {m.binary.impl} {job}: {100 * -change:.2f}% fewer instructions than "
                    f"the reference; refresh it (`{UPDATE_COMMAND}`) to keep the gate tight"
                )
    return rows, tripped, notes


def render(rows: Sequence[Row], tripped: Sequence[str], notes: Sequence[str], tol: float) -> str:
    header = ["impl", "job", "reference Ir", "Ir now", "change", "spread", "verdict"]
    body = [
        [
            r.impl,
            r.job,
            f"{r.reference:,}",
            f"{min(r.counts):,}",
            f"{100 * r.change:+.3f}%",
            f"{100 * (max(r.counts) / min(r.counts) - 1):.4f}% of {len(r.counts)}",
            r.verdict,
        ]
        for r in rows
    ]
    head = f"instruction gate: callgrind Ir against the reference, tolerance {100 * tol:g}%\n\n"
    tail = "".join(f"{line}\n" for line in [*notes, *tripped])
    verdict = (
        f"instruction gate: TRIPPED ({len(tripped)})\n" if tripped else "instruction gate: passed\n"
    )
    return head + markdown_table(header, body) + ("\n" + tail if tail else "") + verdict


def parse_tolerance(text: str | None) -> float:
    """'2%' or '0.02' -> 0.02; None -> DEFAULT_TOLERANCE."""
    if text is None:
        return DEFAULT_TOLERANCE
    return parse_percentage(text, "--tolerance", "2%", 1, "from 0% below 100%")


def main(
    impl_ids: Sequence[str],
    reference_path: Path,
    tolerance_text: str | None,
    update: bool,
    repeats: int,
    work: Path | None,
) -> int:
    try:
        tolerance = parse_tolerance(tolerance_text)
        if not update:  # refuse early: before minutes of building and counting
            reference = read_reference(reference_path)
            available = discover()
            for impl_id in impl_ids:
                if impl_id in available:
                    workspace = cargo_of(available[impl_id])[0].parent
                    check_comparable(reference, impl_id, toolchain(workspace))
        with tempfile.TemporaryDirectory(prefix="gate-instructions-") as tmp:
            folder = work or Path(tmp)
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
            measured = measure(impl_ids, folder, repeats)
        if update:
            doc = make_reference(measured)
            write_reference(doc, reference_path)
            for m in measured:
                counts = ", ".join(f"{j} {min(c):,}" for j, c in m.counts.items())
                print(f"{m.binary.impl}: {counts}")
            print(f"wrote {reference_path}")
            return EXIT_PASS
        rows, tripped, notes = evaluate(reference, measured, tolerance)
    except HarnessError as e:
        print(f"error: instruction gate: {e}", file=sys.stderr)
        return EXIT_REFUSED
    print(render(rows, tripped, notes, tolerance), end="")
    return EXIT_TRIPPED if tripped else EXIT_PASS
