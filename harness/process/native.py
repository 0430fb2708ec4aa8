"""C programs the harness builds itself, compiled once with the system C compiler and cached.

Two programs use it: the job launcher (harness/process/launcher.c, launcher.py) and the FMA
peak probe (harness/analysis/fmapeak.c, fmapeak.py). Each caller chooses its binary's path in
its cache (keyed by the hash of what it compiles) and its flags; `compile_cached` returns the
binary if it is already there, else compiles the source with the first of `COMPILERS` on PATH,
atomically (a temporary file renamed into place), and raises a one-line HarnessError when no
compiler is there or the compile fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError

COMPILERS = ("cc", "gcc", "clang")
COMPILE_TIMEOUT_S = 120


def source_hash(text: str) -> str:
    """16 hex digits of the sha256 of `text`: the cache key of what is compiled."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def find_compiler(path: str | None = None) -> str:
    """The first of COMPILERS on `path` (default: PATH); HarnessError when none is there."""
    for name in COMPILERS:
        found = shutil.which(name, path=path)
        if found:
            return found
    names = f"{', '.join(COMPILERS[:-1])} or {COMPILERS[-1]}"
    raise HarnessError(f"no C compiler ({names}) on PATH")


def compile_cached(
    source: str, binary: Path, flags: Sequence[str], what: str, path: str | None = None
) -> Path:
    """`binary` built from the C `source` with `flags`, compiled unless it is already there.

    `what` names the program in errors ("the probe"); `path` is where compilers are looked for.
    Nothing is left beside `binary` when the compile fails.
    """
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    try:
        cc = find_compiler(path)
    except HarnessError as e:
        raise HarnessError(f"{e} to build {what}") from None
    folder = binary.parent
    src = folder / f"{binary.name}.{os.getpid()}.c"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        src.write_text(source, encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"cannot write {what} into {folder}: {e}") from None
    tmp = folder / f"{binary.name}.{os.getpid()}.tmp"
    try:
        proc = subprocess.run(
            [cc, *flags, "-o", str(tmp), str(src)],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMPILE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError(f"{cc} did not compile {what}: {e}") from None
    finally:
        src.unlink(missing_ok=True)
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
        first = (errors or proc.stderr.strip().splitlines() or ["no message"])[0]
        raise HarnessError(f"{cc} failed to compile {what}: {first.strip()}")
    os.replace(tmp, binary)
    return binary
