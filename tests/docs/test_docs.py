"""Every doc stays true: docs/*.md, the READMEs (impls/**/README.md, README.md) and any other
Markdown file of the checkout but test outputs (tests/docs/doccheck.py).

For each: every repository path it names exists; every `python -m harness ...` it shows parses
with the CLI's own parser (parse only, nothing runs) and the config it names loads with its
`--set` overrides; every YAML block that is a config (or part of one) validates with the config
loader, laid over configs/quickstart.yaml. In docs/configs.md every config key a code span names
(`model.width_scale`, `weights: trained`) is a key of the config models. The checks are shown
to fail on a doc that names a removed path, a command that does not parse, a misspelt key.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from harness import cli
from harness.errors import HarnessError
from harness.process.impls import MANIFEST_KEYS
from tests.docs import doccheck
from tests.docs.doccheck import REPO, Doc

DOCS = {str(path.relative_to(REPO)): Doc.read(path) for path in doccheck.DOC_FILES}
CONFIGS_MD = DOCS["docs/configs.md"]


def test_every_doc_and_readme_is_covered() -> None:
    docs = {*(REPO / "docs").glob("*.md"), *(REPO / "impls").rglob("README.md")}
    docs = {d for d in docs if "target" not in d.relative_to(REPO).parts} | {REPO / "README.md"}
    assert len(docs) > 10 and docs <= set(doccheck.DOC_FILES)


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_path_a_doc_names_exists(name: str) -> None:
    assert not doccheck.missing_paths(DOCS[name]), f"{name} names paths not in the repository"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_harness_command_a_doc_shows_parses_and_its_config_loads(name: str) -> None:
    for args in doccheck.harness_commands(DOCS[name]):
        parsed = doccheck.parse_harness(args)
        assert not isinstance(parsed, str), f"{name}: python -m harness {' '.join(args)}: {parsed}"
        try:
            doccheck.load_named_config(parsed)
        except HarnessError as e:
            pytest.fail(f"{name}: python -m harness {' '.join(args)}: {e}")


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_config_block_of_a_doc_validates(name: str) -> None:
    for block in doccheck.config_blocks(DOCS[name]):
        assert doccheck.config_error(block) is None, f"{name}: {block}"


def test_every_config_key_configs_md_names_is_a_key_of_the_config_models() -> None:
    assert not doccheck.unknown_config_keys(CONFIGS_MD, also=MANIFEST_KEYS)


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_config_key_path_a_doc_names_is_a_key_of_the_config_models(name: str) -> None:
    """`model.width_scale`, `tasks.0.sample.pairs`: in every doc (its `key: value` spans are
    often of results.json or a manifest, so only configs.md's are checked, above)."""
    assert not doccheck.unknown_config_keys(DOCS[name], key_spans=False), name


def test_the_docs_name_paths_commands_and_config_keys() -> None:
    """The extraction finds what the docs hold, so the checks above are not vacuous."""
    assert sum(len(list(doccheck.named_paths(d))) for d in DOCS.values()) > 200
    assert sum(len(list(doccheck.harness_commands(d))) for d in DOCS.values()) > 60
    assert len(list(doccheck.config_blocks(CONFIGS_MD))) == 2
    assert len(list(doccheck.config_keys_named(CONFIGS_MD))) > 20


def test_a_doc_that_names_a_removed_path_fails(tmp_path: Path) -> None:
    """A copy of the checkout's files that docs/sampling.md names passes; remove one and the
    check names it."""
    doc = DOCS["docs/sampling.md"]
    named = list(doccheck.named_paths(doc))
    assert named
    copy = Doc(tmp_path / "docs" / "sampling.md", doc.text)
    copy.path.parent.mkdir()
    for _, path in named:
        target = tmp_path / path.resolve().relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy(path, target)
    assert doccheck.missing_paths(copy, root=tmp_path) == []
    word, path = named[0]
    gone = tmp_path / path.resolve().relative_to(REPO)
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    assert doccheck.missing_paths(copy, root=tmp_path) == [word]


def test_a_doc_that_names_a_missing_path_link_or_glob_fails() -> None:
    doc = Doc(
        REPO / "docs" / "x.md",
        "See `harness/run/nothing.py`, [the notes](notes-gone.md), `tests/harness/test_zz*.py`"
        " and `impls/rust/core/src/params.rs`; `results/<run>/` and `data/omniglot` are made.",
    )
    assert doccheck.missing_paths(doc) == [
        "harness/run/nothing.py",
        "impls/rust/core/src/params.rs",
        "notes-gone.md",
        "tests/harness/test_zz*.py",
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("python -m harness run configs/quickstart.yaml --sett repeats=3", "unrecognized"),
        ("python -m harness dif BASE NEW", "invalid choice"),
        ("python -m harness diff BASE NEW [--threshold 5%] [--forced]", "no option --forced"),
        ("python -m harness data synthetic --out DIR [--alphabets N", "unclosed"),
    ],
)
def test_a_harness_command_that_does_not_parse_fails(line: str, why: str) -> None:
    doc = Doc(REPO / "docs" / "x.md", f"```sh\n{line}\n```\n")
    (args,) = doccheck.harness_commands(doc)
    parsed = doccheck.parse_harness(args)
    assert isinstance(parsed, str) and why in parsed


def test_a_command_whose_override_names_no_key_fails() -> None:
    parsed = doccheck.parse_harness(["run", "configs/quickstart.yaml", "--set", "repeets=3"])
    assert not isinstance(parsed, str)
    with pytest.raises(HarnessError, match="repeets: unknown key"):
        doccheck.load_named_config(parsed)


def test_a_config_block_or_span_with_a_misspelt_key_fails() -> None:
    doc = Doc(
        REPO / "docs" / "x.md",
        "```yaml\nmonitor: {interval: 50}\n```\n`model.width` and `vary_seeds: true`, "
        "`tasks.0.sample.pairs`, `weights: trained` and the file `augment.py`\n",
    )
    (block,) = doccheck.config_blocks(doc)
    assert "monitor.interval" in (doccheck.config_error(block) or "")
    assert doccheck.unknown_config_keys(doc) == ["model.width", "vary_seeds: true"]
    assert doccheck.unknown_config_keys(doc, key_spans=False) == ["model.width"]


def usage_lines() -> list[list[str]]:
    """The usage block of harness/cli.py's docstring: one argument list per line (a line that
    starts with `[` continues the one above; `a|b` is two lines; `(...)` after two spaces is a
    comment)."""
    lines: list[str] = []
    for line in (cli.__doc__ or "").splitlines():
        if line.strip().startswith("python -m harness "):
            lines.append(re.split(r"\s{2,}\(", line.strip())[0])
        elif line.strip().startswith("[") and lines:
            lines[-1] += " " + line.strip()
    out = []
    for line in lines:
        words = shlex.split(line)[3:]
        either = next((w.strip("[]") for w in words if "|" in w), None)
        for alt in either.split("|") if either else [None]:
            out.append([w.replace(either, alt) if either and alt else w for w in words])
    return out


def test_the_cli_usage_block_parses_and_shows_every_verb() -> None:
    lines = usage_lines()
    for args in lines:
        parsed = doccheck.parse_harness(args)
        assert not isinstance(parsed, str), f"cli.py usage: {' '.join(args)}: {parsed}"
    shown = {tuple(args[:2]) for args in lines} | {(args[0],) for args in lines}
    parser = cli.build_parser()
    for verb, sub in doccheck.subcommands(parser).items():
        kinds = doccheck.subcommands(sub)
        wanted = [(verb, kind) for kind in kinds] if kinds else [(verb,)]
        assert set(wanted) <= shown, f"cli.py's usage block lacks {set(wanted) - shown}"
