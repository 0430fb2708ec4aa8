"""Split Omniglot's 20 evaluation alphabets into validation and test halves (Koch et al. 2015).

Koch et al. choose their model on 10 evaluation alphabets and report one-shot accuracy on the
other 10. A training run that validates on the same trials it is scored on reports a selected,
optimistic figure, so `harness data omniglot` writes, beside `images_evaluation`:

    koch-validation/   the alphabets at even positions of the sorted list (0, 2, ..., 18)
    koch-test/         the alphabets at odd positions (1, 3, ..., 19)

Files are hard links (a copy where the file system refuses links), so the halves cost no space
and every reader sees ordinary folders. A half already complete is kept as it is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError

VALIDATION = "koch-validation"
TEST = "koch-test"


def evaluation_halves(evaluation: Path) -> tuple[list[str], list[str]]:
    """The sorted alphabet names of `evaluation`, split into (validation, test)."""
    alphabets = sorted(p.name for p in evaluation.iterdir() if p.is_dir())
    if len(alphabets) < 2:
        raise HarnessError(
            f"{evaluation}: {len(alphabets)} alphabet folder(s), expected at least 2 to split "
            "into validation and test halves"
        )
    return alphabets[0::2], alphabets[1::2]


def _mirror(source: Path, dest: Path) -> None:
    """Recreate the tree `source` under `dest` with hard links (copies as a fallback)."""
    for folder, _, files in os.walk(source):
        target = dest / Path(folder).relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            link = target / name
            if link.exists():
                continue
            try:
                os.link(Path(folder) / name, link)
            except OSError:
                shutil.copy2(Path(folder) / name, link)


def _complete(half: Path, alphabets: list[str]) -> bool:
    marker = half / ".complete"
    return marker.is_file() and marker.read_text(encoding="utf-8").split() == alphabets


def split_evaluation(
    evaluation: Path, log: Callable[[str], None] = lambda _: None
) -> tuple[Path, Path]:
    """Write `koch-validation/` and `koch-test/` beside `evaluation`; return both folders."""
    halves = evaluation_halves(evaluation)
    folders = (evaluation.parent / VALIDATION, evaluation.parent / TEST)
    for folder, alphabets in zip(folders, halves, strict=True):
        if _complete(folder, alphabets):
            continue
        log(f"writing {folder} ({len(alphabets)} alphabets of {evaluation.name})")
        try:
            for alphabet in alphabets:
                _mirror(evaluation / alphabet, folder / alphabet)
            (folder / ".complete").write_text("\n".join(alphabets) + "\n", encoding="utf-8")
        except OSError as exc:
            raise HarnessError(f"cannot write {folder}: {exc.strerror or exc}") from None
    return folders
