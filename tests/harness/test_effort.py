"""Effort figures: code lines, manifest `effort:` validation, the closure of a distribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.effort import code_lines, effort_table, measure, python_closure
from harness.errors import HarnessError
from harness.process.impls import load_manifest


def test_python_lines_skip_blanks_comments_and_docstrings(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        '"""Module doc,\non two lines."""\n\nimport os  # a comment after code counts\n'
        "# only a comment\n\ndef f() -> int:\n    '''Doc.'''\n    return 1\n",
        encoding="utf-8",
    )
    assert code_lines(source) == 3  # import, def, return


def test_rust_lines_skip_comments_and_the_test_module(tmp_path: Path) -> None:
    source = tmp_path / "m.rs"
    source.write_text(
        "//! Module doc.\n\n/// Item doc.\npub fn f() -> i32 {\n    1 // trailing\n}\n\n"
        "#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n",
        encoding="utf-8",
    )
    assert code_lines(source) == 3


def test_manifest_effort_is_checked_with_a_one_line_message(tmp_path: Path) -> None:
    manifest = tmp_path / "impl.yaml"
    manifest.write_text(
        "id: x\nlanguage: python\nrun: [echo]\neffort: {network: src, python: [numpy]}\n",
        encoding="utf-8",
    )
    with pytest.raises(HarnessError, match=r"effort: .*expected \{network: \[globs\]"):
        load_manifest(manifest)


def test_measure_counts_network_files_and_the_python_closure(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "model.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    (tmp_path / "net" / "test_model.py").write_text("z = 3\n", encoding="utf-8")
    manifest = tmp_path / "impl.yaml"
    manifest.write_text(
        "id: x\nlanguage: python\nrun: [echo]\neffort: {network: ['net/*.py'], python: [pyyaml]}\n",
        encoding="utf-8",
    )
    impl = load_manifest(manifest)
    effort = measure(impl, impl.effort)
    assert (effort.network_loc, effort.files) == (2, 1)  # test files are not the network
    assert effort.dependencies == 0  # pyyaml requires nothing
    assert effort.ship_bytes is not None and effort.ship_bytes > 0
    assert effort_table([effort])[1][:4] == ["x", "2", "1", "0"]


def test_closure_follows_requirements_but_not_extras() -> None:
    names = {d.metadata["Name"].lower() for d in python_closure(["jsonschema"])}
    assert {"jsonschema", "referencing", "attrs"} <= names
