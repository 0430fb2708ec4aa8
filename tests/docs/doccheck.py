"""What the docs tests read out of a Markdown file, and the checks they share.

`Doc` splits a file into code blocks, code spans and links. `named_paths` gives the repository
paths a doc names: every link target (relative to the doc's folder) and every word of its code
spans and code blocks that is a path under one of the checkout's top-level entries
(`harness/run/`, `impls/python/oneshot_torch`) or, in a doc below the top, under an entry of the
doc's own folder (`core/src/lib.rs` in impls/rust/README.md; that folder's first).
Placeholders (`results/<run>`), the folders runs and builds make (`data/`, `results/` but for
the tracked `results/reference/`; build output: `target/`, `.tox/`, `.venv/`) and paths outside
the checkout (`../shared/...`) are left out.
`missing_paths` is the ones that do not exist.

`commands` gives the shell commands a doc shows and `harness_args` the arguments of a
`python -m harness ...` one (`harness_commands`: all of a doc's); `parse_harness` parses them
with the CLI's own parser (a usage line's `[--option ARG]` must be an option of the verb) and
`load_named_config` loads the config a `run` names.

Config keys: `config_blocks` are a doc's YAML blocks that are configs, `config_error` validates
one with the config loader, and `unknown_config_keys` checks the keys that code spans name
against `config_tree`, every key of the config models (harness/run/config.py) and of the job
schema they check tasks against.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from harness.errors import HarnessError

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".tox", "target", "node_modules", "golden"}  # golden: test outputs


def markdown_files(root: Path = REPO) -> list[Path]:
    """Every Markdown file of the checkout but build and test outputs (tests/harness/golden)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(".md")]
    return sorted(found)


DOC_FILES = markdown_files()  # README.md, docs/*.md, the READMEs under impls/
BUILT = {"target", ".tox", ".venv"}  # folders builds make, absent in a fresh clone
RUN_MADE = ("data", "results")  # folders that runs make; only results/reference/ is tracked
PATHLIKE = re.compile(r"^[\w.-]+(/[\w.*-]+)*/?$")
BASE_CONFIG = REPO / "configs" / "quickstart.yaml"  # what a doc's config fragment is laid over


@dataclass(frozen=True)
class Doc:
    path: Path
    text: str

    @classmethod
    def read(cls, path: Path) -> Doc:
        return cls(path, path.read_text(encoding="utf-8"))

    @cached_property
    def blocks(self) -> list[str]:
        return re.findall(r"```[\w-]*\n(.*?)```", self.text, flags=re.S)

    @cached_property
    def sh_blocks(self) -> list[str]:
        return re.findall(r"```(?:sh|bash)\n(.*?)```", self.text, flags=re.S)

    @cached_property
    def yaml_blocks(self) -> list[str]:
        return re.findall(r"```(?:yaml|yml)\n(.*?)```", self.text, flags=re.S)

    @cached_property
    def prose(self) -> str:
        return re.sub(r"```.*?```", "", self.text, flags=re.S)

    @cached_property
    def spans(self) -> list[str]:
        """Code spans, a span broken over two lines joined with one space."""
        found = re.findall(r"`((?:[^`\n]|\n(?!\n))+)`", self.prose)
        return [" ".join(span.split()) for span in found]

    @cached_property
    def links(self) -> list[str]:
        return re.findall(r"\]\(([^)#\s]+)\)", self.prose)


def named_paths(doc: Doc, root: Path = REPO) -> Iterator[tuple[str, Path]]:
    """(word as written, the path it names) for every path in checkout `root` the doc names."""
    top = {p.name for p in root.iterdir()}
    here = doc.path.parent
    own = {p.name for p in here.iterdir()} if here != root else set()
    for link in doc.links:
        inside = (here / link).resolve().is_relative_to(root.resolve())
        if not link.startswith(("http:", "https:", "mailto:")) and inside:
            yield link, here / link
    for text in [*doc.spans, *doc.blocks]:
        for word in text.split():
            word = word.strip("`'\",;:()")
            if word.startswith(("http", "~", "..", "-", "$", "/")) or "<" in word or "=" in word:
                continue
            if not PATHLIKE.match(word) or word.startswith(("python", "cargo")) or "/" not in word:
                continue
            first = word.split("/")[0]
            if first in RUN_MADE and not word.startswith("results/reference/"):
                continue
            if BUILT & set(word.split("/")):  # build output (cargo's, tox's), made by builds
                continue
            # Below the top, a word names a path of the doc's folder first (`tests/parity.rs`
            # in impls/rust/tch/README.md), else one of the checkout's.
            places = [here / word] if first in own else []
            places += [root / word] if first in top else []
            if places:
                yield word, next((p for p in places if exists(p)), places[0])


def exists(path: Path) -> bool:
    """A path, or a glob pattern with at least one match, where every match exists."""
    if "*" not in path.name and "*" not in str(path.parent):
        return path.exists()
    matches = list(Path(path.anchor).glob(str(path.relative_to(path.anchor)).rstrip("/")))
    return bool(matches) and all(m.exists() for m in matches)


def missing_paths(doc: Doc, root: Path = REPO) -> list[str]:
    """The paths the doc names that are not in checkout `root`, as written."""
    return sorted({word for word, path in named_paths(doc, root) if not exists(path)})


def commands(doc: Doc) -> Iterator[list[str]]:
    """Every command of the shell blocks and of code spans that start with python."""
    # A line ending in a backslash continues on the next, as in the shell.
    lines = [line for block in doc.sh_blocks for line in block.replace("\\\n", " ").splitlines()]
    lines += [span for span in doc.spans if span.startswith(("python ", "python3 "))]
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            yield shlex.split(part)


def harness_args(argv: list[str]) -> list[str] | None:
    """The arguments after `python -m harness` (any interpreter path), or None."""
    for i in range(len(argv) - 2):
        if argv[i].endswith(("python", "python3")) and argv[i + 1 : i + 3] == ["-m", "harness"]:
            return argv[i + 3 :]
    return None


def harness_commands(doc: Doc) -> Iterator[list[str]]:
    """The arguments of every `python -m harness ...` the doc shows: in shell blocks, in code
    spans, and as a line of a code block of any other kind."""
    found = list(commands(doc))
    for block in doc.blocks:
        if block not in doc.sh_blocks:
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("python -m harness "):
                    found.append(shlex.split(line.split(" #", 1)[0]))
    for argv in found:
        args = harness_args(argv)
        if args is not None:
            yield args


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's verbs (or a verb's kinds: `gate ratios`, `data synthetic`), {} if none."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def _subparser(parser: argparse.ArgumentParser, args: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser that the verbs among `args` lead to."""
    for arg in args:
        parser = subcommands(parser).get(arg, parser)
    return parser


def parse_harness(args: list[str]) -> argparse.Namespace | str:
    """`args` parsed by the CLI's own parser (parse only, nothing runs), or why they do not parse.

    A usage line (`--out DIR [--zip PATH ...]`, `RUN_DIR...`) parses without its bracketed
    parts, and each option among those must be an option of the verb."""
    from harness.cli import build_parser

    parser = build_parser()
    plain: list[str] = []
    optional: list[str] = []
    inside = False
    for word in args:
        if not inside and word.startswith("["):
            inside, word = True, word[1:]
        if inside:
            inside = not word.endswith("]")
            optional.append(word.removesuffix("]"))
        else:
            plain.append(word.removesuffix("..."))
    if inside:
        return f"an unclosed [ in {' '.join(args)!r}"
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(plain)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1]
    verb = _subparser(parser, plain)
    options = {s for a in verb._actions for s in a.option_strings}
    unknown = [o for o in optional if o.startswith("-") and o not in options]
    if unknown:
        return f"{verb.prog}: no option {unknown[0]}"
    return parsed


def load_named_config(parsed: argparse.Namespace) -> None:
    """Load the config a parsed `run` names, with its `--set` overrides (a placeholder such as
    CONFIG.yaml, and a `--resume`, name none); raises HarnessError when it does not load."""
    from harness.run.config import load_config

    config = getattr(parsed, "config", None)
    if config is None or getattr(parsed, "resume", None) or config.stem.isupper():
        return
    # A shell variable (`--set model.conv=$conv` in a for loop) has no value to load.
    load_config(REPO / config, [o for o in parsed.overrides if "$" not in o])


ANY = "any"  # a config value whose keys are free (`sweep`: key paths)


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out[key] = _fields(kind)
        else:
            out[key] = {}
    return out


def _properties(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _properties(v) for k, v in block.get("properties", {}).items()}


@cache
def config_tree() -> dict[str, Any]:
    """Every config key, as nested dicts, read from the config models and the job schema that
    they check against: {"monitor": {"interval_ms": {}}, "tasks": {"sample": {"pairs": {}}}, ...}.
    A task's keys are its job params and the ones the harness consumes; `model`'s are those
    the model resolver accepts (asked, not copied); `sweep`'s are free."""
    from harness.analysis.checks import DEFAULT_TOLERANCES
    from harness.process.protocol import (
        TASK_PARAMS_HARNESS_KEYS,
        known_tasks,
        schema,
        task_params_schema,
    )
    from harness.run.config import Config
    from harness.run.presets import resolve_model

    tree = _fields(Config)
    tree["tolerances"] = {key: {} for key in DEFAULT_TOLERANCES}
    for section in ("optimizer", "augment"):
        tree[section] = _properties(schema("job")["properties"][section])
    own = {key: {} for key in TASK_PARAMS_HARNESS_KEYS}
    tree["tasks"] = {t: {**_properties(task_params_schema(t) or {}), **own} for t in known_tasks()}
    words = {w for f in DOC_FILES for w in re.findall(r"[a-z_]+", f.read_text(encoding="utf-8"))}

    def known_to_model(key: str) -> bool:
        try:
            resolve_model({"preset": "cpu", key: None})
        except HarnessError as e:
            return not str(e).startswith(f"model.{key}: unknown key")
        return True

    tree["model"] = {w: {} for w in sorted(words) if known_to_model(w)}
    tree["sweep"] = ANY
    return tree


def key_names(tree: Mapping[str, Any]) -> set[str]:
    """Every key name anywhere in a tree."""
    out = set(tree)
    for sub in tree.values():
        if isinstance(sub, Mapping):
            out |= key_names(sub)
    return out


def unknown_key(path: list[str], tree: Mapping[str, Any] | None = None) -> str | None:
    """The first part of a config key path (`model.width_scale`, `tasks.0.sample.pairs`,
    `tasks.*.batch`) that is not a key there, or None when every part is."""
    node: Any = config_tree() if tree is None else tree
    for i, part in enumerate(path):
        if node == ANY:
            return None
        if path[i - 1 : i] == ["tasks"] and (part.isdigit() or part == "*"):
            if part == "*":  # `tasks.*.KEY`: a parameter of some task
                node = {k: v for task in node.values() for k, v in task.items()}
            continue
        if not isinstance(node, Mapping) or part not in node:
            return ".".join(path[: i + 1])
        node = node[part]
    return None


SPAN_KEY = re.compile(r"^([a-z_]+):(?: .*)?$")  # `weights: trained`, `init:`
FILE_SUFFIXES = {"py", "rs", "tsv", "json", "jsonl", "yaml", "md", "c", "toml", "csv", "txt"}
SPAN_PATH = re.compile(r"^(?:--set )?([a-z_]+(?:\.(?:[a-z_]+|\d+|\*))+)(?:=.*)?$")  # `model.conv`


def config_keys_named(doc: Doc) -> Iterator[tuple[str, list[str] | None]]:
    """(span, key path) for every code span that names a config key by its path
    (`model.width_scale`, `--set tasks.0.sample.pairs=5000`), and (span, None) for every
    `key: value` span, whose key may sit at any level."""
    top = config_tree()
    for span in doc.spans:
        if (m := SPAN_KEY.match(span)) is not None:
            yield span, None
        elif (m := SPAN_PATH.match(span)) is not None and m.group(1).split(".")[0] in top:
            path = m.group(1).split(".")
            if path[-1] not in FILE_SUFFIXES:  # `augment.py` is a file, not a key
                yield span, path


def unknown_config_keys(doc: Doc, also: tuple[str, ...] = (), key_spans: bool = True) -> list[str]:
    """The spans of a doc whose config key is not one (a `key:` span's key may also be one of
    `also`, such as the manifest keys a config doc mentions beside them; `key_spans=False`
    checks key paths only, for a doc whose `key: value` spans are of other files)."""
    names = key_names(config_tree()) | set(also)
    out = []
    for span, path in config_keys_named(doc):
        if path is None:
            if not key_spans:
                continue
            if SPAN_KEY.match(span).group(1) not in names:  # type: ignore[union-attr]
                out.append(span)
        elif unknown_key(path) is not None:
            out.append(span)
    return out


def _merge(base: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    """`part` laid over `base`: mappings merged key by key (but `sweep`), the rest replaced."""
    out = copy.deepcopy(base)
    for k, v in part.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict) and k != "sweep":
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def config_error(fragment: Mapping[str, Any]) -> str | None:
    """The config loader's error for a fragment laid over configs/quickstart.yaml, or None."""
    from harness.run.config import from_dict, parse_yaml

    base = parse_yaml(BASE_CONFIG.read_text(encoding="utf-8"), str(BASE_CONFIG))
    try:
        from_dict(_merge(base, fragment), base=REPO)
    except HarnessError as e:
        return str(e)
    return None


def config_blocks(doc: Doc) -> Iterator[dict[str, Any]]:
    """The YAML blocks of a doc that are experiment configs (or parts of one): mappings whose
    top-level keys are all config keys."""
    from harness.run.config import TOP_KEYS

    for block in doc.yaml_blocks:
        value = yaml.safe_load(block)
        if isinstance(value, dict) and value and set(value) <= set(TOP_KEYS):
            yield value
