"""XLA's CPU threads follow the job's `threads` exactly (docs/protocol.md, "Threads").

JAX has no thread setting of its own; XLA's CPU client (PJRT) sizes its pools when the backend
starts, from the environment, so `configure(threads)` must run before jax is imported:

- `PJRT_NPROC=threads`: XLA's `DefaultThreadPoolSize()` reads it (before falling back to the
  machine's cores), and the CPU client makes both of its pools that size: the intra-op Eigen
  pool (threads named `tf_XLAEigen`) that runs the convolutions, dots and parallel loops of the
  thunk runtime, and the client's pool that runs the executables;
- `jax_num_cpu_devices=1` (jax config, set right after import): one CPU device, so the pool is
  not widened to the device count (the client takes `max(PJRT_NPROC, devices)` threads); the
  older `--xla_force_host_platform_device_count` flag is not used;
- `XLA_FLAGS --xla_cpu_multi_thread_eigen=false` for `threads: 1`: Eigen's single-threaded
  kernels wherever the runtime still looks at the flag (true, the default, otherwise);
- `XLA_FLAGS --xla_cpu_enable_concurrency_optimized_scheduler=false` for `threads: 1`: the
  thunk runtime runs independent operations concurrently, the client's thread beside the
  Eigen thread, and this scheduler orders them to overlap. With it off, a 1-thread `step` of
  the `small` preset used 1.06 CPU-seconds per second (1.13 with it on); on for more threads;
- `JAX_PLATFORMS=cpu`: no probing for accelerator plug-ins.

Other flags already in `XLA_FLAGS` are kept. `versions()` reports what was set and the number
of `tf_XLAEigen` threads the client actually started (Linux: from /proc/self/task), which
tests/jax_impl checks against `threads`. XLA's thunk runtime has no legacy alternative to fall
back to (`--xla_cpu_use_thunk_runtime` is no longer supported) and `intra_op_parallelism_threads`
is not an XLA flag (XLA aborts on it), so these are the knobs there are.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EIGEN_THREAD_NAME = "tf_XLAEigen"
_MANAGED_FLAGS = (
    "--xla_cpu_multi_thread_eigen",
    "--xla_cpu_enable_concurrency_optimized_scheduler",
)

_configured: int | None = None


def xla_flags(threads: int, existing: str = "") -> str:
    """`XLA_FLAGS` for `threads`: the existing flags minus those managed here, plus ours."""
    kept = [f for f in existing.split() if not f.startswith(_MANAGED_FLAGS)]
    parallel = "true" if threads > 1 else "false"
    return " ".join(
        [
            *kept,
            f"--xla_cpu_multi_thread_eigen={parallel}",
            f"--xla_cpu_enable_concurrency_optimized_scheduler={parallel}",
        ]
    )


def configure(threads: int) -> None:
    """Set XLA's environment for `threads` (before jax is imported; idempotent for one value)."""
    global _configured
    if _configured == threads:
        return
    if "jax" in sys.modules:  # too late: the pools may exist already (a bug in the caller)
        raise RuntimeError("oneshot_jax.threads.configure must run before jax is imported")
    os.environ["PJRT_NPROC"] = str(threads)
    os.environ["XLA_FLAGS"] = xla_flags(threads, os.environ.get("XLA_FLAGS", ""))
    os.environ["JAX_PLATFORMS"] = "cpu"
    _configured = threads


def start_backend() -> None:
    """Import jax, pin one CPU device and start the CPU client (its pools start now)."""
    import jax

    jax.config.update("jax_num_cpu_devices", 1)  # type: ignore[no-untyped-call]
    jax.devices("cpu")


def eigen_threads() -> int | None:
    """Threads of XLA's intra-op Eigen pool in this process (None where /proc is missing)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    count = 0
    for task in tasks.iterdir():
        try:
            name = (task / "comm").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        count += name == EIGEN_THREAD_NAME
    return count


def versions() -> dict[str, str]:
    """The thread settings for result.json's `versions` (after `start_backend`)."""
    import jax

    found = {
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "pjrt_nproc": os.environ.get("PJRT_NPROC", ""),
        "jax_num_cpu_devices": str(jax.config.values["jax_num_cpu_devices"]),
        "jax_devices": str(len(jax.devices())),
    }
    eigen = eigen_threads()
    if eigen is not None:
        found["xla_eigen_threads"] = str(eigen)
    return found
