"""What an implementation costs to write and to ship, beside what it costs to run.

Per implementation, from its manifest's `effort:` section (docs/protocol.md, "Manifests"):

- `network_loc`: code lines of its network part (the files of `effort.network`, globs relative
  to the manifest folder): lines that are not blank and not only a comment; Python docstrings
  and Rust `#[cfg(test)]` modules do not count.
- `dependencies`: the packages its network part pulls in. Rust: the distinct crates of
  `cargo tree -e normal` for `effort.cargo` (its manifest path and package) that the shared
  core (`oneshot-core`) does not already bring; Python: the installed distributions in the
  requirement closure of `effort.python` (e.g. `[torch]`), those named excluded.
- `ship_bytes`: the release binary (Rust) or the installed files of that closure (Python).
- `clean_build_s` (only with `clean_build=True`): a release build from an empty target folder.

`python -m harness effort` prints the table; `--clean-build` adds the (slow) clean builds.
"""

from __future__ import annotations

import ast
import glob
import importlib.metadata as metadata
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.process.impls import Implementation


@dataclass(frozen=True)
class Effort:
    impl: str
    network_loc: int | None
    files: int
    dependencies: int | None
    ship_bytes: int | None
    clean_build_s: float | None = None

    def dump(self) -> dict[str, Any]:
        return {
            "impl": self.impl,
            "network_loc": self.network_loc,
            "files": self.files,
            "dependencies": self.dependencies,
            "ship_bytes": self.ship_bytes,
            "clean_build_s": self.clean_build_s,
        }


def code_lines(path: Path) -> int:
    """Lines of code in a Python or Rust file (no blanks, comments, docstrings or tests)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return _python_lines(text)
    if path.suffix == ".rs":
        return _rust_lines(text)
    raise HarnessError(f"{path}: cannot count lines of a {path.suffix or 'suffix-less'} file")


def _python_lines(text: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                end = body[0].end_lineno or body[0].lineno
                docstrings.update(range(body[0].lineno, end + 1))
    return sum(
        1
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def _rust_lines(text: str) -> int:
    count = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "#[cfg(test)]":
            break  # test modules close a file by convention
        if stripped and not stripped.startswith("//"):
            count += 1
    return count


def network_files(impl: Implementation, patterns: Iterable[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        for name in glob.glob(str(impl.folder / pattern), recursive=True):
            path = Path(name).resolve()
            if path.is_file() and path.suffix in (".py", ".rs") and "test" not in path.stem:
                found.add(path)
    return sorted(found)


CORE_CRATE = "oneshot-core"  # the shared Rust core: its crates are every back-end's


def _cargo_tree(manifest: Path, package: str) -> set[str] | None:
    command = ["cargo", "tree", "--manifest-path", str(manifest), "-p", package]
    command += ["-e", "normal", "--prefix", "none", "--offline", "--locked"]
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {line.split(" (")[0].strip() for line in out.splitlines() if line.strip()}


def cargo_dependencies(impl: Implementation, cargo: Mapping[str, str]) -> int | None:
    """Crates the package pulls in beyond itself and the shared core's own crates."""
    manifest = impl.folder / cargo["manifest"]
    crates = _cargo_tree(manifest, cargo["package"])
    if crates is None:
        return None
    core = _cargo_tree(manifest, CORE_CRATE) or set()
    own = {c for c in crates if c.split(" ")[0] in (cargo["package"], CORE_CRATE)}
    return len(crates - core - own)


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    names = []
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue  # optional extras are not installed by `pip install <name>`
        match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
        if match:
            names.append(match.group(0))
    return names


def python_closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    """Installed distributions required by `roots`, themselves included."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-conditional requirement not installed here
        seen[key] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def _installed_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def clean_build_seconds(impl: Implementation) -> float | None:
    """Seconds of the manifest's build command with every Rust target folder fresh."""
    if impl.build is None:
        return None
    with tempfile.TemporaryDirectory(prefix="oneshot-clean-build-") as target:
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        began = time.perf_counter()
        result = subprocess.run(
            [impl.expand(a) for a in impl.build], cwd=impl.folder, env=env, capture_output=True
        )
        seconds = time.perf_counter() - began
    return seconds if result.returncode == 0 else None


def measure(impl: Implementation, spec: Mapping[str, Any], clean_build: bool = False) -> Effort:
    """The effort figures of one implementation from its manifest's `effort:` section."""
    files = network_files(impl, spec.get("network", []))
    loc = sum(code_lines(f) for f in files) if files else None
    dependencies: int | None = None
    ship: int | None = None
    if "cargo" in spec:
        dependencies = cargo_dependencies(impl, spec["cargo"])
        binary = impl.folder / impl.run[0]
        ship = binary.stat().st_size if binary.is_file() else None
    elif "python" in spec:
        closure = python_closure(spec["python"])
        dependencies = max(len(closure) - len(spec["python"]), 0)
        ship = sum(_installed_bytes(d) for d in closure)
    build_s = clean_build_seconds(impl) if clean_build and "cargo" in spec else None
    return Effort(impl.id, loc, len(files), dependencies, ship, build_s)


def effort_table(rows: Iterable[Effort]) -> list[list[str]]:
    """Rows of the effort table: id, LOC, files, dependencies, size, clean build."""

    def size(n: int | None) -> str:
        return "-" if n is None else f"{n / 2**20:,.1f} MiB"

    out = [["impl", "network LOC", "files", "dependencies", "ship size", "clean build s"]]
    for e in rows:
        out.append(
            [
                e.impl,
                "-" if e.network_loc is None else str(e.network_loc),
                str(e.files),
                "-" if e.dependencies is None else str(e.dependencies),
                size(e.ship_bytes),
                "-" if e.clean_build_s is None else f"{e.clean_build_s:.0f}",
            ]
        )
    return out
