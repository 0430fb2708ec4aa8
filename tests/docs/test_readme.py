"""The README stays true: every repository path it names exists, every command it shows parses.

The extraction is tests/docs/doccheck.py's, shared with test_docs.py (every other doc).
Paths: every link target and every word of code spans and code blocks that is a path under one
of the checkout's top-level entries (`harness/run/`, `impls/python/oneshot_torch`,
`configs/quickstart.yaml`; placeholders like `results/<run>`, the folders runs make, `data/` and
`results/`, and paths outside the checkout like `../shared/...` are left out).
Commands: `python -m harness ...` parses with the harness's own argument parser and the
configs it names load with the config loader (with their `--set` overrides); `python3 -m tox`
names environments of tox.ini; a script it runs exists and takes the options shown (`--help`);
`pip install -e .` has a pyproject.toml; the table's implementation ids are the manifests'.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys

import pytest

from harness.cli import build_parser
from harness.process.impls import discover
from harness.run.config import load_config
from tests.docs import doccheck
from tests.docs.doccheck import REPO, Doc

DOC = Doc.read(REPO / "README.md")
README = DOC.text


def path_words() -> list[str]:
    return [word for word, _ in doccheck.named_paths(DOC)]


def commands() -> list[list[str]]:
    return list(doccheck.commands(DOC))


def test_the_readme_names_paths_and_commands() -> None:
    assert len(list(path_words())) > 10 and len(list(commands())) > 5


@pytest.mark.parametrize("path", sorted(set(path_words())))
def test_every_path_the_readme_names_exists(path: str) -> None:
    assert doccheck.exists(REPO / path), f"README names {path}: not in the repo"


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:60])
def test_every_command_the_readme_shows_parses(argv: list[str]) -> None:
    args = doccheck.harness_args(argv)
    if args is not None:
        try:
            parsed = build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"README command does not parse: {' '.join(argv)}")
        config = getattr(parsed, "config", None)
        if config is not None and not getattr(parsed, "resume", None):
            load_config(REPO / config, parsed.overrides)
        return
    if argv[:3] in (["python3", "-m", "tox"], ["python", "-m", "tox"]):
        tox = configparser.ConfigParser()
        tox.read(REPO / "tox.ini")
        envs = {s.removeprefix("testenv:") for s in tox.sections() if s.startswith("testenv:")}
        listed = [e.strip() for e in tox["tox"]["envlist"].split(",")]
        assert set(listed) <= envs | {"py"}
        wanted = argv[argv.index("-e") + 1].split(",") if "-e" in argv else []
        assert set(wanted) <= envs | set(listed), f"tox envs {wanted} not in tox.ini"
        return
    if "pip" in " ".join(argv[:4]) and "install" in argv:
        if "-e" in argv:
            assert (REPO / argv[argv.index("-e") + 1] / "pyproject.toml").is_file()
        return
    if argv[0] in ("python", "python3") and argv[1].endswith(".py"):
        script = REPO / argv[1]
        assert script.is_file(), f"README runs {argv[1]}: not in the repo"
        shown = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO
        )
        assert shown.returncode == 0, shown.stderr
        for option in (a.split("=")[0] for a in argv[2:] if a.startswith("--")):
            assert option in shown.stdout, f"{argv[1]} has no option {option}"
        return
    if argv[0] == "python3" and argv[1:3] == ["-m", "venv"]:
        return
    pytest.fail(f"README command of a kind this test does not check: {' '.join(argv)}")


def test_the_implementation_ids_of_the_table_are_the_manifests() -> None:
    table = README.split("\n## ", 1)[0]  # the implementations' table, before the first section
    ids = re.findall(r"^\| `([\w-]+)` \|", table, flags=re.M)
    assert ids and set(ids) == set(discover()), f"README ids {ids} are not the manifests"
