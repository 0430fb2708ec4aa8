"""The machine's physical fp32 FMA peak, beside the SGEMM roofline (roofline.py).

The SGEMM roofline says what a good BLAS reaches on this machine; it does not say what the cores
could do. This probe measures that ceiling: independent chains of fused multiply-adds with no
memory traffic, on `threads` pthreads at once. A SGEMM at 50% of this figure has room a better
kernel could take; one at 90% has none.

`SOURCE` is a small C program (kept here as a string, so no package data is needed) with two
kernels: AVX-512 (`_mm512_fmadd_ps`, 16 zmm accumulators) and AVX2 (`_mm256_fmadd_ps`, 16 ymm
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

`measure_fma_peak` compiles the program with the system C compiler (`cc`, else `gcc`;
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

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

VARIANTS = ("avx512", "avx2")
REQUIRED_FLAGS = {"avx512": ("avx512f",), "avx2": ("avx2", "fma")}
CFLAGS = ("-O2", "-pthread")
COMPILERS = ("cc", "gcc")
CPUINFO = Path("/proc/cpuinfo")

SOURCE = r"""
/* fp32 FMA peak: independent FMA chains on N threads (harness/analysis/fmapeak.py).
   usage: fma_peak avx512|avx2 THREADS DURATION_S WARMUP_S REPEATS SEED
   SEED in (-0.59, 0), so that every chain of every thread starts in (-1, 0) */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS 16
#define MAX_REPEATS 64

typedef float (*kernel_fn)(long iters, float seed);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* x <- x * x + x: one register per chain, so 16 ymm accumulators fit the 16 ymm registers
   of AVX2 without a spill (a separate multiplier or addend would need a 17th). From a seed in
   (-1, 0) every chain rises towards 0 like -1/n and stalls near -6e-8: no overflow, no
   subnormals, whatever the duration. */
#define FMA16(fma)                                                                             \
    a0 = fma(a0, a0, a0); a1 = fma(a1, a1, a1); a2 = fma(a2, a2, a2); a3 = fma(a3, a3, a3);    \
    a4 = fma(a4, a4, a4); a5 = fma(a5, a5, a5); a6 = fma(a6, a6, a6); a7 = fma(a7, a7, a7);    \
    a8 = fma(a8, a8, a8); a9 = fma(a9, a9, a9); a10 = fma(a10, a10, a10);                      \
    a11 = fma(a11, a11, a11); a12 = fma(a12, a12, a12); a13 = fma(a13, a13, a13);              \
    a14 = fma(a14, a14, a14); a15 = fma(a15, a15, a15);

#define SUM16(add) \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))), \
        add(add(add(a8, a9), add(a10, a11)), add(add(a12, a13), add(a14, a15))))

__attribute__((target("avx512f"), noinline))
static float chains_avx512(long iters, float seed) {
    __m512 a0 = _mm512_set1_ps(seed - 0.00f), a1 = _mm512_set1_ps(seed - 0.01f);
    __m512 a2 = _mm512_set1_ps(seed - 0.02f), a3 = _mm512_set1_ps(seed - 0.03f);
    __m512 a4 = _mm512_set1_ps(seed - 0.04f), a5 = _mm512_set1_ps(seed - 0.05f);
    __m512 a6 = _mm512_set1_ps(seed - 0.06f), a7 = _mm512_set1_ps(seed - 0.07f);
    __m512 a8 = _mm512_set1_ps(seed - 0.08f), a9 = _mm512_set1_ps(seed - 0.09f);
    __m512 a10 = _mm512_set1_ps(seed - 0.10f), a11 = _mm512_set1_ps(seed - 0.11f);
    __m512 a12 = _mm512_set1_ps(seed - 0.12f), a13 = _mm512_set1_ps(seed - 0.13f);
    __m512 a14 = _mm512_set1_ps(seed - 0.14f), a15 = _mm512_set1_ps(seed - 0.15f);
    for (long i = 0; i < iters; i++) {
        FMA16(_mm512_fmadd_ps)
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, SUM16(_mm512_add_ps));
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += lanes[i];
    return s;
}

__attribute__((target("avx2,fma"), noinline))
static float chains_avx2(long iters, float seed) {
    __m256 a0 = _mm256_set1_ps(seed - 0.00f), a1 = _mm256_set1_ps(seed - 0.01f);
    __m256 a2 = _mm256_set1_ps(seed - 0.02f), a3 = _mm256_set1_ps(seed - 0.03f);
    __m256 a4 = _mm256_set1_ps(seed - 0.04f), a5 = _mm256_set1_ps(seed - 0.05f);
    __m256 a6 = _mm256_set1_ps(seed - 0.06f), a7 = _mm256_set1_ps(seed - 0.07f);
    __m256 a8 = _mm256_set1_ps(seed - 0.08f), a9 = _mm256_set1_ps(seed - 0.09f);
    __m256 a10 = _mm256_set1_ps(seed - 0.10f), a11 = _mm256_set1_ps(seed - 0.11f);
    __m256 a12 = _mm256_set1_ps(seed - 0.12f), a13 = _mm256_set1_ps(seed - 0.13f);
    __m256 a14 = _mm256_set1_ps(seed - 0.14f), a15 = _mm256_set1_ps(seed - 0.15f);
    for (long i = 0; i < iters; i++) {
        FMA16(_mm256_fmadd_ps)
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, SUM16(_mm256_add_ps));
    float s = 0.0f;
    for (int i = 0; i < 8; i++) s += lanes[i];
    return s;
}

typedef struct {
    int tid;
    long iters;
    double seconds[MAX_REPEATS];
    double checksum;
} job_t;

static kernel_fn kernel;
static int repeats;
static double duration_s, warmup_s;
static float seed0;
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    job_t *job = arg;
    float seed = seed0 - 0.001f * (float)(job->tid % 256);
    double sum = 0.0;
    /* warm up, and measure this thread's rate with every other thread running */
    pthread_barrier_wait(&barrier);
    long chunk = 2000, done = 0;
    double t0 = now(), t;
    do {
        sum += kernel(chunk, seed);
        done += chunk;
        t = now();
    } while (t - t0 < warmup_s);
    long iters = (long)((double)done / (t - t0) * duration_s);
    job->iters = iters < 1 ? 1 : iters;
    for (int r = 0; r < repeats; r++) {
        pthread_barrier_wait(&barrier);
        double a = now();
        sum += kernel(job->iters, seed);
        job->seconds[r] = now() - a;
    }
    job->checksum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s avx512|avx2 THREADS DURATION_S WARMUP_S REPEATS SEED\n",
                argv[0]);
        return 2;
    }
    const char *variant = argv[1];
    int lanes;
    if (strcmp(variant, "avx512") == 0) {
        kernel = chains_avx512;
        lanes = 16;
    } else if (strcmp(variant, "avx2") == 0) {
        kernel = chains_avx2;
        lanes = 8;
    } else {
        fprintf(stderr, "unknown variant %s: expected avx512 or avx2\n", variant);
        return 2;
    }
    int threads = atoi(argv[2]);
    duration_s = atof(argv[3]);
    warmup_s = atof(argv[4]);
    repeats = atoi(argv[5]);
    seed0 = (float)atof(argv[6]);
    if (threads < 1 || threads > 4096 || repeats < 1 || repeats > MAX_REPEATS || duration_s <= 0
        || !(seed0 > -0.59f && seed0 < 0.0f)) {
        fprintf(stderr, "bad arguments: threads 1..4096, repeats 1..%d, duration > 0, "
                "seed in (-0.59, 0)\n", MAX_REPEATS);
        return 2;
    }
    job_t *jobs = calloc((size_t)threads, sizeof(job_t));
    pthread_t *ids = calloc((size_t)threads, sizeof(pthread_t));
    if (!jobs || !ids || pthread_barrier_init(&barrier, NULL, (unsigned)threads) != 0) {
        fprintf(stderr, "out of memory or no barrier\n");
        return 1;
    }
    for (int i = 0; i < threads; i++) {
        jobs[i].tid = i;
        if (pthread_create(&ids[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed for thread %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);

    double flops_per_iter = (double)CHAINS * lanes * 2.0, flops = 0.0, checksum = 0.0;
    for (int i = 0; i < threads; i++) {
        flops += (double)jobs[i].iters * flops_per_iter;
        checksum += jobs[i].checksum;
    }
    double best = 0.0, best_seconds = 0.0;
    printf("{\"variant\": \"%s\", \"threads\": %d, \"repeats\": %d, \"duration_s\": %g, "
           "\"warmup_s\": %g, \"chains\": %d, \"lanes\": %d, \"flops\": %.17g, "
           "\"repeat_gflops\": [", variant, threads, repeats, duration_s, warmup_s, CHAINS,
           lanes, flops);
    for (int r = 0; r < repeats; r++) {
        double slowest = 0.0;
        for (int i = 0; i < threads; i++)
            if (jobs[i].seconds[r] > slowest) slowest = jobs[i].seconds[r];
        double gflops = slowest > 0.0 ? flops / slowest / 1e9 : 0.0;
        if (gflops > best) {
            best = gflops;
            best_seconds = slowest;
        }
        printf("%s%.6g", r ? ", " : "", gflops);
    }
    printf("], \"gflops\": %.6g, \"seconds\": %.6g, \"checksum\": %.9g}\n", best, best_seconds,
           checksum);
    return 0;
}
"""

# Read from the command line, so the compiler knows no chain's value (see the C comment).
SEED = "-0.5"


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/oneshot-bench/fma-peak (default ~/.cache), read when called."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oneshot-bench" / "fma-peak"


def source_key() -> str:
    """The cache key: the hash of the source and the flags it is compiled with."""
    text = SOURCE + "\0" + " ".join(CFLAGS)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def find_compiler(path: str | None = None) -> str:
    """`cc`, else `gcc`, on `path` (default: PATH); HarnessError when neither is there."""
    for name in COMPILERS:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise HarnessError("fma peak: no C compiler (cc or gcc) on PATH to build the FMA probe")


def compile_probe(cache: Path | None = None, path: str | None = None) -> Path:
    """The probe binary, compiled once per source hash; HarnessError if it cannot be built."""
    folder = (cache or cache_dir()) / source_key()
    binary = folder / "fma_peak"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    cc = find_compiler(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        src = folder / f"fma_peak.{os.getpid()}.c"
        src.write_text(SOURCE, encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"fma peak: cannot write the probe into {folder}: {e}") from None
    tmp = folder / f"fma_peak.{os.getpid()}.tmp"
    try:
        proc = subprocess.run(
            [cc, *CFLAGS, "-o", str(tmp), str(src)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError(f"fma peak: {cc} did not compile the probe: {e}") from None
    finally:
        src.unlink(missing_ok=True)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
        first = (errors or proc.stderr.strip().splitlines() or ["no message"])[0]
        raise HarnessError(f"fma peak: {cc} failed to compile the probe: {first.strip()}")
    os.replace(tmp, binary)
    return binary


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
