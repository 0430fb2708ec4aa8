"""The practical roofline: the machine's SGEMM rate, and each compute task's share of it.

`measure_peak` runs this module as a fresh subprocess
(`python -m harness.analysis.roofline --probe`) once per run. The probe times single-precision
matrix products through numpy and through torch with the run's thread count, keeps the best of
each, and reports which BLAS kernel ran (threadpoolctl: library, version, architecture, threads).
`machine.sgemm_gflops` is the better of the two.

These machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE to an older kernel for safety, which
roughly halves numpy's SGEMM. A benchmark config may set `roofline: {unset_openblas_coretype:
true}`: then only the probe's environment loses both variables and the record says so
(`unset_env`). Tests and CI never set it; nothing else in the run is affected.

`achieved` reads each compute task's `gflop_per_s` (or `gflop` over `task_s`) from the measured
runs and divides its median by the peak.

The second line is the physical one: fmapeak.py measures the fp32 FMA peak of the same threads
(independent FMA chains, AVX-512 or AVX2) whenever this probe runs, and postrun.py gives every
row its `share_of_fma_peak` beside `share_of_peak` (`machine.fma_peak_gflops`, `fma_peak`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from harness.errors import HarnessError
from harness.process.protocol import REPO_ROOT
from harness.process.tasks import TASKS
from harness.results import Results, RooflineTask

# The tasks with network arithmetic (an analytic FLOP count in their TaskSpec).
COMPUTE_TASKS = tuple(name for name, spec in TASKS.items() if spec.flops is not None)
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def probe_env(
    threads: int, unset_openblas_coretype: bool, base: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The probe's environment (a copy: the harness's own is never changed) and what it unset."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(threads)
    unset = []
    if unset_openblas_coretype:
        for var in UNSET_VARS:
            if env.pop(var, None) is not None:
                unset.append(var)
    return env, unset


def measure_peak(
    threads: int,
    *,
    size: int = 1024,
    repeats: int = 5,
    unset_openblas_coretype: bool = False,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Run the SGEMM probe in a subprocess; return what `machine.sgemm` records."""
    env, unset = probe_env(threads, unset_openblas_coretype)
    cmd = [
        sys.executable,
        "-m",
        "harness.analysis.roofline",
        "--probe",
        f"--size={size}",
        f"--repeats={repeats}",
        f"--threads={threads}",
    ]
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"roofline: the SGEMM probe took over {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise HarnessError(f"roofline: the SGEMM probe failed (exit {proc.returncode}): {last}")
    record: dict[str, Any] = json.loads(proc.stdout)
    record["unset_openblas_coretype"] = unset_openblas_coretype
    record["unset_env"] = unset
    record["env"] = {var: env.get(var) for var in (*UNSET_VARS, *THREAD_VARS)}
    return record


def _best_gflops(matmul: Any, a: Any, b: Any, size: int, repeats: int) -> float:
    matmul(a, b)  # warm up: first call pays thread start-up and page faults
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def probe(size: int, repeats: int, threads: int) -> dict[str, Any]:
    """Inside the subprocess: time numpy and torch SGEMM; report kernels via threadpoolctl."""
    import numpy as np

    # Imported by name: mypy in the lint environment has neither torch nor threadpoolctl stubs.
    threadpool_info = importlib.import_module("threadpoolctl").threadpool_info

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out: dict[str, Any] = {"size": size, "repeats": repeats, "threads": threads}
    out["numpy_gflops"] = round(_best_gflops(np.matmul, a, b, size, repeats), 2)
    out["numpy_blas"] = _pools(threadpool_info())
    try:
        torch: Any = importlib.import_module("torch")
    except ImportError:
        out["torch_gflops"] = None
        out["torch_blas"] = []
    else:
        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch_gflops"] = round(_best_gflops(torch.matmul, ta, tb, size, repeats), 2)
        numpy_libs = {p["filepath"] for p in out["numpy_blas"]}
        pools = _pools(threadpool_info())
        out["torch_blas"] = [p for p in pools if p["filepath"] not in numpy_libs]
        out["torch_version"] = torch.__version__
        out["torch_mkl"] = bool(torch.backends.mkl.is_available())
    candidates = [v for v in (out["numpy_gflops"], out["torch_gflops"]) if v is not None]
    out["sgemm_gflops"] = max(candidates)
    out["best"] = "numpy" if out["sgemm_gflops"] == out["numpy_gflops"] else "torch"
    out["numpy_version"] = np.__version__
    return out


def _pools(info: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{**{k: p.get(k) for k in keys}, "filepath": p["filepath"]} for p in info]


def wanted(measure: str, task_names: list[str]) -> bool:
    """`auto` measures when a compute task is in the config; `always` / `never` as named."""
    if measure == "always":
        return True
    if measure == "never":
        return False
    return any(t in COMPUTE_TASKS for t in task_names)


def achieved(results: Results, peak_gflops: float | None) -> list[RooflineTask]:
    """Median achieved GFLOP/s of every compute measurement and its share of the peak."""
    from harness.analysis.ratios import values
    from harness.analysis.stats import summarize

    rows = []
    for m in results.measurements:
        if m.task not in COMPUTE_TASKS:
            continue
        vals = list(values(m, "gflop_per_s").values())
        if not vals:
            continue
        med = summarize(vals).median
        rows.append(
            RooflineTask(
                task=m.task,
                task_index=m.task_index,
                impl=m.impl,
                gflop_per_s=med,
                share_of_peak=med / peak_gflops if peak_gflops else None,
                runs=len(vals),
            )
        )
    return rows


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m harness.roofline", description=__doc__)
    p.add_argument("--probe", action="store_true", help="time SGEMM here and print JSON")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.probe:
        print(json.dumps(probe(args.size, args.repeats, args.threads)))
    else:
        print(json.dumps(measure_peak(args.threads, size=args.size, repeats=args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
