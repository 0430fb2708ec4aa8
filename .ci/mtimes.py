"""Content-keyed modification times for the Rust sources of a CI clone (.ci/run).

Cargo decides whether a crate of the workspace must be rebuilt by comparing its source files'
modification times with those of its last build. A fresh clone gives every file the time of
the clone, so with the build folders kept between runs (.ci/run) every crate of ours would still
be rebuilt on every run. This gives each file the time it had in the last run, *only when its
content is the same* (git's blob hash): an unchanged file looks unchanged to cargo, a changed,
added or renamed one keeps the clone's time and is rebuilt. So a cached build is never stale.

    python3 .ci/mtimes.py restore CACHE_DIR   # before building: unchanged files get their time
    python3 .ci/mtimes.py record CACHE_DIR    # after: remember each file's hash and time
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

TREES = ("impls/rust",)


def tracked() -> dict[str, str]:
    """path -> git blob hash of the content on disk of every tracked file under TREES."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *TREES], capture_output=True, check=True
    ).stdout.decode()
    found = {}
    for path in filter(None, out.split("\0")):
        if os.path.isfile(path):
            data = Path(path).read_bytes()
            found[path] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return found


def main(verb: str, cache: Path) -> int:
    record = cache / "mtimes.tsv"
    files = tracked()
    if verb == "record":
        cache.mkdir(parents=True, exist_ok=True)
        lines = [f"{blob}\t{os.stat(p).st_mtime_ns}\t{p}" for p, blob in sorted(files.items())]
        record.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return 0
    if verb != "restore":
        print(f"error: {verb!r}: expected restore or record", file=sys.stderr)
        return 2
    if not record.is_file():
        return 0
    same = 0
    for line in record.read_text(encoding="utf-8").splitlines():
        blob, mtime, path = line.split("\t", 2)
        if files.get(path) == blob:
            os.utime(path, ns=(int(mtime), int(mtime)))
            same += 1
    print(f"mtimes: {same} of {len(files)} Rust source files unchanged since the last CI run")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python3 .ci/mtimes.py restore|record CACHE_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
