"""Keep freed memory in the process: glibc's `mallopt` before any tensor is allocated.

PyTorch's CPU tensors come from the C allocator. glibc serves every block above its mmap
threshold (at most 32 MiB) with a fresh `mmap` and returns it with `munmap` when freed, so each
training step of the `paper` shape, whose activations are larger, faults its pages in anew:
1.9 M minor page faults and a quarter of the CPU time in the kernel for 4 steps at batch 32.
PyTorch's CPU tuning guide recommends a caching allocator (jemalloc, tcmalloc) for exactly
this. The same effect with glibc alone: no mmap for large blocks (`M_MMAP_MAX = 0`) and no
trimming of the heap top (`M_TRIM_THRESHOLD` at its maximum), set from here before torch
allocates. Measured on the `paper` step at batch 32: 13.9 -> 17.4 pairs/s, kernel time 4.3 -> 1.5
s; the `small` training loop: 266 -> 428 pairs/s (README, "Anomalies found").

On a C library without `mallopt` (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_MAX = 2**31 - 1  # mallopt takes an int


_applied = False  # recorded in result.json's `versions` as `malloc_keep_freed`


def applied() -> bool:
    """Whether `keep_freed_memory` took effect in this process."""
    return _applied


def keep_freed_memory() -> bool:
    """Apply the two settings; True when the C library took both.

    `CDLL(None)` is the running process, which already has the C library loaded: no library
    search (`ctypes.util.find_library` runs a subprocess, tens of ms of start-up).
    """
    global _applied
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_MAX))
    return _applied
