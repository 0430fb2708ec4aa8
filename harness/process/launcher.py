"""The small launcher process that makes peak-RSS figures exact (see launcher.c).

`launcher()` compiles harness/process/launcher.c once with the system C compiler
(harness/process/native.py) into a cache folder keyed by the source's hash. Without a compiler,
or when the compile fails, it returns None and the runner launches jobs directly; the run then
records `peak_rss_method` saying that the figure includes the harness's pages inherited before
exec.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from harness.errors import HarnessError
from harness.process.native import compile_cached, source_hash

SOURCE = Path(__file__).with_name("launcher.c")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oneshot-bench"
CFLAGS = ("-O2",)

METHOD_LAUNCHER = "wait4 of the job, forked from a ~1 MiB launcher (exact)"
METHOD_DIRECT = "wait4 of the job forked from the harness (includes ~45 MiB inherited pages)"


@cache
def launcher() -> Path | None:
    source = SOURCE.read_text(encoding="utf-8")
    binary = CACHE / f"launcher-{source_hash(source)}"
    try:
        return compile_cached(source, binary, CFLAGS, "the launcher")
    except HarnessError:
        return None


def peak_rss_method() -> str:
    return METHOD_LAUNCHER if launcher() is not None else METHOD_DIRECT
