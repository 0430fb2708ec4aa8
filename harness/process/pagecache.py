"""Dropping files from the page cache, for a cold start from disk (a serve task's
`page_cache: evict`, docs/configs.md).

The harness may not write /proc/sys/vm/drop_caches (it needs root, and would drop every cached
page of the machine); it asks the kernel, file by file, to drop the clean pages of the files a
job needs (`posix_fadvise(POSIX_FADV_DONTNEED)`): the files its implementation mapped in an
earlier run (`mapped.tsv`: executable, shared libraries, memory-mapped weights) and the job's
input files. Pages that another running process maps stay cached (the kernel keeps them), so
the cold start measured is at most as cold as a reboot's; `resident_bytes` says how much of the
files stayed (mincore), so the report can state it.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
from collections.abc import Iterable
from pathlib import Path


def evict(paths: Iterable[Path]) -> int:
    """Ask the kernel to drop each file's cached pages; the bytes of the files advised."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def resident_bytes(paths: Iterable[Path]) -> int:
    """The bytes of the files' pages in the page cache now (mincore of a read-only mapping)."""
    libc = ctypes.CDLL(None, use_errno=True)
    page = mmap.PAGESIZE
    total = 0
    for path in paths:
        try:
            size = os.path.getsize(path)
            if size == 0:
                continue
            # a private mapping (never written): its pages are the file's cached pages
            with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
                pages = (size + page - 1) // page
                vec = (ctypes.c_ubyte * pages)()
                start = ctypes.c_char.from_buffer(m)
                ok = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), size, vec) == 0
                del start  # the mapping cannot close while a ctypes object holds it
                if ok:
                    total += min(size, sum(b & 1 for b in vec) * page)
        except (OSError, ValueError, TypeError, BufferError):
            continue
    return total
