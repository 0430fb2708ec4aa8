"""`harness publish [--archive results/archive] [--check] [--root .]`.

Reads the archive alone (harness.archive.write.read_archive) and writes the README's headline
between `<!-- answer:begin -->`/`<!-- answer:end -->`, docs/results.md's serving answer
(publish/serving.py, from the newest archived serve run) between `<!-- serving:begin -->`/
`<!-- serving:end -->`,
docs/results.md's "The answer by CPU" between `<!-- answer-by-cpu:begin -->`/
`<!-- answer-by-cpu:end -->`, and site/index.html (generated output, not committed:
.gitignore). `--check` writes nothing: one line per block that differs from what the archive
generates, exit 1; 0 when equal. With no answer run archived, `publish` says so and exits 2
touching nothing, and `--check` passes only while neither file holds its markers; with no
serve run archived, docs/results.md must not hold the serving markers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from harness.archive.record import ARCHIVE_ROOT
from harness.archive.write import read_archive
from harness.errors import HarnessError
from harness.process.protocol import REPO_ROOT
from harness.publish.answer import newest, newest_per_machine
from harness.publish.serving import (
    CONFIG,
    SERVING_FILE,
    SERVING_MARKERS,
    serving_block,
    serving_record,
)
from harness.publish.site import site_html
from harness.publish.texts import (
    README_MARKERS,
    RESULTS_MARKERS,
    has_markers,
    readme_block,
    replace_block,
    results_block,
)

TARGETS = (("README.md", README_MARKERS), ("docs/results.md", RESULTS_MARKERS))
SITE = "site/index.html"
HOW = "run python -m harness publish"


def publish(archive: Path, root: Path, check: bool) -> int:
    """Write (or with `check`, compare) the generated blocks and the site; the exit code."""
    # The default archive may not exist yet (git keeps no empty folder): no answer run then.
    absent = archive == ARCHIVE_ROOT and not archive.exists()
    records = [] if absent else read_archive(archive)
    record = newest(records)
    texts = {name: read_text(root / name) for name, _ in TARGETS}
    if record is None:
        marked = [name for name, markers in TARGETS if has_markers(texts[name], markers)]
        if not check:
            print(
                f"no answer run in {archive} (archive one: python -m harness archive RUN);"
                " nothing published"
            )
            return 2
        for name in marked:
            print(f"{name}: holds answer markers but {archive} holds no answer run")
        return 1 if marked else 0
    blocks = [
        ("README.md", README_MARKERS, readme_block(record), "the answer block"),
        (
            "docs/results.md",
            RESULTS_MARKERS,
            results_block(newest_per_machine(records)),
            "the answer by CPU",
        ),
    ]
    differ: list[str] = []
    serving = serving_record(records)
    if serving is not None:
        block = serving_block(serving, shipped_config(root / CONFIG))
        blocks.append((SERVING_FILE, SERVING_MARKERS, block, "the serving block"))
    elif has_markers(texts[SERVING_FILE], SERVING_MARKERS):
        stale = f"{SERVING_FILE}: holds serving markers but {archive} holds no serve run"
        if not check:
            raise HarnessError(stale)
        differ.append(stale)
    new = dict(texts)
    for name, markers, block, what in blocks:
        try:
            replaced = replace_block(new[name], block, markers, name)
        except HarnessError as e:
            if not check:
                raise
            differ.append(str(e))
            continue
        if replaced != new[name]:
            differ.append(f"{name}: {what} differs from the archive; {HOW}")
        new[name] = replaced
    if check:
        for line in differ:
            print(line)
        return 1 if differ else 0
    for name, text in new.items():
        if text != texts[name]:
            (root / name).write_text(text, encoding="utf-8")
            print(f"published: {root / name}")
    site = root / SITE
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(site_html(records), encoding="utf-8")
    print(f"published: {site}")
    return 0


def shipped_config(path: Path) -> dict[str, Any] | None:
    """The config file at `path` as YAML reads it; None where the checkout has none."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise HarnessError(
            f"{path}: cannot read ({e.strerror}); give the checkout with --root"
        ) from None


def cmd_publish(args: argparse.Namespace) -> int:
    return publish(args.archive or ARCHIVE_ROOT, args.root or REPO_ROOT, args.check)
