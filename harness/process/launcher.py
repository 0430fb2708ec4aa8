"""The small launcher process that makes peak-RSS figures exact (see launcher.c).

`launcher()` compiles harness/process/launcher.c once with the system C compiler into a cache folder
keyed by the source's hash. Without a compiler it returns None and the runner launches jobs
directly; the run then records `peak_rss_method` saying that the figure includes the harness's
pages inherited before exec.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).with_name("launcher.c")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oneshot-bench"

METHOD_LAUNCHER = "wait4 of the job, forked from a ~1 MiB launcher (exact)"
METHOD_DIRECT = "wait4 of the job forked from the harness (includes ~45 MiB inherited pages)"


@cache
def launcher() -> Path | None:
    source = SOURCE.read_bytes()
    binary = CACHE / f"launcher-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    proc = subprocess.run(
        [cc, "-O2", "-o", str(tmp), str(SOURCE)], capture_output=True, check=False, timeout=120
    )
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, binary)
    return binary


def peak_rss_method() -> str:
    return METHOD_LAUNCHER if launcher() is not None else METHOD_DIRECT
