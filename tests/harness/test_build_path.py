"""Builds run with the harness's own interpreter first on PATH (the README's un-activated venv).

`.venv/bin/python -m harness run ...` is how the README runs the harness: the virtualenv is not
activated, so `python3` on PATH may be another interpreter, one without torch. torch-sys's build
script (rust-tch) asks `python3` where torch is; the harness must hand every build its own
interpreter first. Here a manifest's build asks `python3` to import a module that only the
harness's interpreter has, from a harness started by absolute path with a PATH whose `python3`
is a real Python without site-packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.process.impls import with_own_interpreter
from tests.harness_cli import run_harness

FAKE = Path(__file__).with_name("fake_impl.py")


def python3_without_packages(folder: Path) -> Path:
    """A folder whose `python3` is the base interpreter without site-packages (no torch)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Path(sys.base_prefix) / "bin" / "python3"
    script = folder / "python3"
    script.write_text(f'#!/bin/sh\nexec "{base}" -I -S "$@"\n')
    script.chmod(0o755)
    return folder


def foreign_path(tmp_path: Path) -> str:
    """PATH as an un-activated shell has it: another python3 first, not the harness's folder."""
    own = str(Path(sys.executable).parent)
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != own]
    return os.pathsep.join([str(python3_without_packages(tmp_path / "bin")), *rest])


def harness_outside_venv(
    tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGS` by the interpreter's absolute path, its venv not activated."""
    full = {**os.environ, "PATH": foreign_path(tmp_path), **env}
    full.pop("VIRTUAL_ENV", None)
    return run_harness(*args, env=full)


def test_the_harness_interpreter_goes_first_on_path_once() -> None:
    own = str(Path(sys.executable).parent)
    env = with_own_interpreter({"PATH": f"/opt/other/bin{os.pathsep}{own}{os.pathsep}/usr/bin"})
    assert env["PATH"].split(os.pathsep) == [own, "/opt/other/bin", "/usr/bin"]
    assert with_own_interpreter({})["PATH"] == own


def test_a_build_that_asks_python3_for_a_package_finds_the_harness_interpreter(
    tmp_path: Path,
) -> None:
    probe = subprocess.run(
        ["python3", "-c", "import yaml"],
        env={"PATH": foreign_path(tmp_path)},
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0, "the foreign python3 must lack the harness's packages"

    impls = tmp_path / "impls" / "asks-python3"
    impls.mkdir(parents=True)
    manifest = {
        "id": "asks-python3",
        "language": "python",
        # as torch-sys does: the build asks `python3` on PATH for a package
        "build": ["python3", "-c", "import yaml"],
        "run": ["{python}", str(FAKE), "run", "{job}"],
    }
    (impls / "impl.yaml").write_text(json.dumps(manifest))
    data = tmp_path / "data" / "Alpha" / "character01"
    data.mkdir(parents=True)
    (data / "0001_01.png").write_bytes(b"x")
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: path\nthreads: 1\nwarmup: 0\nrepeats: 1\nimplementations: [asks-python3]\n"
        f"dataset: {{root: {tmp_path / 'data'}}}\ntasks:\n  - sample: {{pairs: 10}}\n"
    )
    proc = harness_outside_venv(
        tmp_path,
        *("run", str(config), "--out", str(tmp_path / "run")),
        ONESHOT_BENCH_IMPLS=str(tmp_path / "impls"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [b["ok"] for b in results["builds"]] == [True]
