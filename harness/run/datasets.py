"""The data set of a run: the configured folder, or the embedded synthetic set made on demand.

`prepare` returns the training root, the evaluation root and the facts recorded in
results.json, among them a SHA-256 fingerprint of every image path and byte, so that runs on
different data are never compared as if they were alike.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.process.protocol import REPO_ROOT
from harness.run.config import Config, SyntheticConfig
from harness.run.display import Display

DATA_CACHE = REPO_ROOT / "data"


def prepare(config: Config, display: Display) -> tuple[Path, Path | None, dict[str, Any]]:
    ds = config.dataset
    eval_root: Path | None
    if ds.root is None:
        root, eval_root = synthetic_pair(ds.synthetic, display)
        if ds.eval_root is not None:
            eval_root = ds.eval_root
        source = "synthetic"
    else:
        root, eval_root, source = ds.root, ds.eval_root, "folder"
    check_folder(root, "dataset.root")
    if eval_root is not None:
        check_folder(eval_root, "dataset.eval_root")
    for i, task in enumerate(config.tasks):
        if task.eval_root is not None:
            check_folder(task.eval_root, f"tasks[{i}].{task.name}.eval_root")
    facts: dict[str, Any] = {
        "source": source,
        "root": str(root),
        "eval_root": str(eval_root) if eval_root else None,
        **fingerprint(root),
    }
    if source == "synthetic":
        facts["synthetic"] = vars(ds.synthetic)
    return root, eval_root, facts


def synthetic_pair(syn: SyntheticConfig, display: Display) -> tuple[Path, Path]:
    from harness.data.synthetic import write_synthetic

    tag = f"a{syn.alphabets}-c{syn.characters}-d{syn.drawers}-s{syn.seed}"
    root = DATA_CACHE / f"synthetic-{tag}"
    eval_seed = syn.seed + 1_000_003
    eval_tag = f"a{syn.eval_alphabets}-c{syn.characters}-d{syn.drawers}-s{eval_seed}"
    eval_root = DATA_CACHE / f"synthetic-{eval_tag}"
    for out, alphabets, seed in (
        (root, syn.alphabets, syn.seed),
        (eval_root, syn.eval_alphabets, eval_seed),
    ):
        # Reuses an identical existing set (its marker file says so) or writes it atomically.
        summary = write_synthetic(
            out, alphabets=alphabets, characters=syn.characters, drawers=syn.drawers, seed=seed
        )
        if not summary.reused:
            display.line(f"wrote the synthetic data set {out}")
    return root, eval_root


def check_folder(path: Path, key: str) -> None:
    if not path.exists():
        raise HarnessError(f"{key}: {path} does not exist; expected an Omniglot-layout folder")
    if not path.is_dir():
        raise HarnessError(f"{key}: {path} is not a folder; expected an Omniglot-layout folder")
    if not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        raise HarnessError(
            f"{key}: {path} has no alphabet folders; expected <alphabet>/<character>/*.png"
        )


def fingerprint(root: Path) -> dict[str, Any]:
    """SHA-256 over every PNG's relative path and bytes, in byte order of paths."""
    digest = hashlib.sha256()
    count = 0
    paths = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(".png") and not name.startswith("."):
                paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    for rel in sorted(paths, key=os.fsencode):
        digest.update(os.fsencode(rel) + b"\0")
        digest.update((root / rel).read_bytes())
        count += 1
    return {"images": count, "sha256": digest.hexdigest()}
