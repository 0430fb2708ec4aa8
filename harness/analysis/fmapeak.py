"""The machine's physical fp32 FMA peak, beside the SGEMM roofline (roofline.py).

The SGEMM roofline says what a good BLAS reaches on this machine; it does not say what the cores
could do. This probe measures that ceiling: independent chains of fused multiply-adds with no
memory traffic, on `threads` pthreads at once. A SGEMM at 50% of this figure has room a better
kernel could take; one at 90% has none.

The probe is a small C program, harness/analysis/fmapeak.c (package data), with two kernels:
AVX-512 (`_mm512_fmadd_ps`, 16 zmm accumulators) and AVX2 (`_mm256_fmadd_ps`, 16 ymm
accumulators). Sixteen independent chains keep two FMA pipes of 4-cycle latency busy (eight
would be just enough). Each chain computes `x = x * x + x`, one register per chain: AVX2 has 16
ymm registers, and a separate multiplier or addend would push one accumulator out to the stack,
whose store and reload sit in that chain (a first version did, and measured 40% less). The
seed comes from the command line, so the compiler can fold nothing; the accumulators are summed
into a checksum that is printed, so it can eliminate nothing. Each thread warms up for
`warmup_s` (which also measures its own rate under the full load, clock changes included),
sizes its loop to take about `duration_s`, then times it `repeats` times, every repeat started
together behind a barrier. A repeat's rate is the flops of all threads over the slowest
thread's time; the best repeat counts.

`measure_fma_peak` compiles the program with the system C compiler (harness/process/native.py;
`-O2 -pthread`) once into `$XDG_CACHE_HOME/oneshot-bench/fma-peak/<sha>/` (default
`~/.cache`), keyed by the hash of the source and the flags, runs every variant the CPU's flags
allow (AVX-512 with `avx512f`; AVX2 with `avx2` and `fma`) as its own subprocess and returns
what `machine.fma_peak` records: each variant's GFLOP/s, threads and seconds, what was skipped
and why, the best (`fma_peak_gflops`), the clock /proc/cpuinfo reports (`cpu MHz`, the largest
line; under a hypervisor often the nominal clock, not the boosted one) and the implied flops per
cycle per core, `gflops / (threads * GHz)`, one thread taken per core. That last figure is the
check against the core's design: 32 for two 256-bit FMA pipes (2 pipes x 8 lanes x 2 flops),
64 for two 512-bit ones, 32 from the AVX-512 variant of a core that splits 512-bit operations in
two. A figure above the design means the cores ran faster than the reported clock (boost): 64
flops/cycle at 3.7 GHz reads as 91 at a reported 2.6 GHz. A missing compiler, a failed compile
or a crashed probe is a `HarnessError`; a cached binary is used without a compiler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.process.native import compile_cached, source_hash

VARIANTS = ("avx512", "avx2")
REQUIRED_FLAGS = {"avx512": ("avx512f",), "avx2": ("avx2", "fma")}
CFLAGS = ("-O2", "-pthread")
CPUINFO = Path("/proc/cpuinfo")

SOURCE = Path(__file__).with_name("fmapeak.c").read_text(encoding="utf-8")

# Read from the command line, so the compiler knows no chain's value (see the C comment).
SEED = "-0.5"


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/oneshot-bench/fma-peak (default ~/.cache), read when called."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oneshot-bench" / "fma-peak"


def source_key() -> str:
    """The cache key: the hash of the source and the flags it is compiled with."""
    return source_hash(SOURCE + "\0" + " ".join(CFLAGS))


def compile_probe(cache: Path | None = None, path: str | None = None) -> Path:
    """The probe binary, compiled once per source hash; HarnessError if it cannot be built."""
    binary = (cache or cache_dir()) / source_key() / "fma_peak"
    try:
        return compile_cached(SOURCE, binary, CFLAGS, "the probe", path)
    except HarnessError as e:
        raise HarnessError(f"fma peak: {e}") from None


def read_cpuinfo() -> str:
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first `flags` line of a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cpu_mhz(cpuinfo: str) -> float | None:
    """The largest `cpu MHz` line of a /proc/cpuinfo text; None without one."""
    values = []
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "cpu MHz":
            try:
                values.append(float(value))
            except ValueError:
                continue
    return max(values) if values else None


def select_variants(cpuinfo: str) -> tuple[list[str], dict[str, str]]:
    """The variants this CPU can run, and every other one with why it is skipped."""
    have = cpu_flags(cpuinfo)
    run: list[str] = []
    skipped: dict[str, str] = {}
    for variant in VARIANTS:
        missing = [f for f in REQUIRED_FLAGS[variant] if f not in have]
        if missing:
            skipped[variant] = f"no {' and '.join(missing)} in /proc/cpuinfo flags"
        else:
            run.append(variant)
    return run, skipped


def flops_per_cycle(gflops: float, threads: int, mhz: float | None) -> float | None:
    """gflops / (threads * GHz): flops per cycle per core, one thread taken per core."""
    if mhz is None or mhz <= 0 or threads < 1:
        return None
    return gflops / (threads * mhz / 1000.0)


def run_variant(
    binary: Path,
    variant: str,
    threads: int,
    *,
    duration_s: float,
    warmup_s: float,
    repeats: int,
    timeout_s: float,
) -> dict[str, Any]:
    """One variant's JSON record from the probe; HarnessError on a crash, a timeout, bad JSON."""
    cmd = [str(binary), variant, str(threads), repr(duration_s), repr(warmup_s), str(repeats)]
    try:
        proc = subprocess.run(
            [*cmd, SEED],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"fma peak: the {variant} probe took over {timeout_s:.0f} s") from None
    except OSError as e:
        raise HarnessError(f"fma peak: cannot start the {variant} probe: {e}") from None
    if proc.returncode != 0:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise HarnessError(f"fma peak: the {variant} probe failed ({how}): {last}")
    try:
        record: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise HarnessError(f"fma peak: the {variant} probe printed no JSON") from None
    return record


def measure_fma_peak(
    threads: int,
    *,
    duration_s: float = 0.5,
    warmup_s: float = 0.1,
    repeats: int = 3,
    timeout_s: float = 120.0,
    cpuinfo: str | None = None,
    cache: Path | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """Compile and run the probe's variants; return what `machine.fma_peak` records."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    variants, skipped = select_variants(text)
    if not variants:
        why = "; ".join(f"{v}: {r}" for v, r in skipped.items())
        raise HarnessError(f"fma peak: no FMA variant runs on this CPU ({why})")
    binary = compile_probe(cache, path)
    mhz = cpu_mhz(text)
    records: dict[str, dict[str, Any]] = {}
    for variant in variants:
        rec = run_variant(
            binary,
            variant,
            threads,
            duration_s=duration_s,
            warmup_s=warmup_s,
            repeats=repeats,
            timeout_s=timeout_s,
        )
        gflops = float(rec["gflops"])
        records[variant] = {
            "gflops": round(gflops, 2),
            "threads": int(rec["threads"]),
            "seconds": rec["seconds"],
            "repeat_gflops": rec["repeat_gflops"],
            "flops_per_cycle_per_core": _round(flops_per_cycle(gflops, threads, mhz)),
            "checksum": rec["checksum"],
        }
    best = max(records, key=lambda v: records[v]["gflops"])
    peak = records[best]["gflops"]
    return {
        "fma_peak_gflops": peak,
        "best": best,
        "threads": threads,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "repeats": repeats,
        "cpu_mhz": mhz,
        "flops_per_cycle_per_core": _round(flops_per_cycle(peak, threads, mhz)),
        "variants": records,
        "skipped": skipped,
        "binary": str(binary),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m harness.analysis.fmapeak", description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--duration-s", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    try:
        record = measure_fma_peak(args.threads, duration_s=args.duration_s, repeats=args.repeats)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
