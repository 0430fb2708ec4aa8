"""One-shot trials: Koch's drawn trials and Lake's `all_runs` (docs/evaluation.md, "Trials").

A trial is a query image, N candidate images (one per character) and the position of the
candidate of the query's character. `draw_koch_trials` draws them from a scanned evaluation
data set with `Rng(seed, "trials")` in the documented order, so the Rust implementation draws
the same trials; `read_lake_runs` reads the 20 runs of Lake et al.'s `all_runs` folder.
`load_trials` decodes every distinct image once into a `TrialSet`, the input of
`evaluate.evaluate_one_shot`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from oneshot_common.data import Progress, load_images
from oneshot_common.errors import InputError
from oneshot_common.rng import Rng
from oneshot_common.sampling import Dataset

LABELS_FILE = "class_labels.txt"
_RUN_NAME = re.compile(r"run[0-9]+")


@dataclass(frozen=True)
class Trial:
    """Paths relative to the trial set's root; `answer` is the index of the right candidate."""

    query: str
    candidates: tuple[str, ...]
    answer: int
    run: int = 0  # Lake's run (0-based); 0 for Koch's trials


@dataclass(frozen=True)
class TrialSet:
    """Trials with each distinct image decoded once (indices into `images` and `paths`)."""

    root: str
    paths: tuple[str, ...]  # [M] distinct image paths, in order of first use
    images: npt.NDArray[np.uint8]  # [M, 1379] bit-packed, 1 = ink
    queries: npt.NDArray[np.intp]  # [T]
    candidates: npt.NDArray[np.intp]  # [T, N]
    answers: npt.NDArray[np.intp]  # [T] position of the right candidate
    runs: npt.NDArray[np.intp]  # [T] Lake's run index, 0 for Koch's trials

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def ways(self) -> int:
        return int(self.candidates.shape[1])


def eligible_alphabets(dataset: Dataset, ways: int) -> list[int]:
    """Alphabets with at least `ways` characters, in data-set order; error if there is none."""
    eligible = [a for a, size in enumerate(dataset.alphabet_size) if size >= ways]
    if not eligible:
        largest = max(dataset.alphabet_size)
        raise InputError(
            f"{dataset.root}: no alphabet has {ways} characters (the largest has {largest}), "
            f"expected at least one for {ways}-way one-shot trials"
        )
    return eligible


def draw_koch_trials(dataset: Dataset, ways: int, trials: int, rng: Rng) -> list[Trial]:
    """Koch et al.'s N-way trials, drawn in this exact order for each trial:

    1. alphabet `a = eligible[below(E)]` among the E alphabets with >= N characters;
    2. N distinct characters of `a` (S characters) by a partial Fisher-Yates shuffle of
       0..S-1: for i in 0..N-1, `j = i + below(S - i)`, swap positions i and j; candidate k
       is character `order[k]`;
    3. two drawers among the first m images (m = the fewest images of the N characters):
       `d1 = below(m)`, `d2 = below(m - 1)`, `d2 += 1` if `d2 >= d1`;
    4. the answer position `below(N)`.
    The query is image d1 of the answer's character; candidate k is image d2 of character k.
    """
    if ways < 2:
        raise InputError(f"params.ways: {ways} is out of range, expected at least 2")
    eligible = eligible_alphabets(dataset, ways)
    drawn: list[Trial] = []
    for _ in range(trials):
        chars, d1, d2 = draw_characters(dataset, eligible, ways, rng)
        answer = rng.below(ways)
        query = dataset.images[chars[answer]][d1]
        candidates = tuple(dataset.images[c][d2] for c in chars)
        drawn.append(Trial(query, candidates, answer))
    return drawn


def draw_characters(
    dataset: Dataset, eligible: list[int], ways: int, rng: Rng
) -> tuple[list[int], int, int]:
    """Steps 1-3 of a Koch draw (shared with `serve`'s episodes, episodes.py): the alphabet,
    `ways` distinct characters of it (data-set character numbers, in drawn order) and the two
    drawers d1 != d2; an error when one of the characters has fewer than 2 images."""
    below = rng.below
    alphabet = eligible[below(len(eligible))]
    first, size = dataset.alphabet_start[alphabet], dataset.alphabet_size[alphabet]
    order = list(range(size))
    for i in range(ways):
        j = i + below(size - i)
        order[i], order[j] = order[j], order[i]
    chars = [first + k for k in order[:ways]]
    fewest = min(len(dataset.images[c]) for c in chars)
    if fewest < 2:
        raise InputError(
            f"{dataset.root}: a character has {fewest} image(s), expected at least 2 drawers "
            "per character for one-shot trials"
        )
    d1 = below(fewest)
    d2 = below(fewest - 1)
    if d2 >= d1:
        d2 += 1
    return chars, d1, d2


def _read_labels(path: str, runs_root: str) -> list[tuple[str, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InputError(f"{path}: cannot read the run's labels ({reason})") from None
    lines: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise InputError(
                f"{path}:{number}: expected 2 fields 'runNN/test/itemKK.png "
                f"runNN/training/classJJ.png', got {len(fields)}"
            )
        for rel in fields:
            if rel.startswith("/") or ".." in rel.split("/"):
                raise InputError(f"{path}:{number}: path {rel!r} leaves the runs folder")
            if not os.path.isfile(os.path.join(runs_root, rel)):
                raise InputError(f"{path}:{number}: {rel!r} is not a file under {runs_root}")
        lines.append((fields[0], fields[1]))
    if not lines:
        raise InputError(f"{path}: no trial lines, expected 'query answer' lines")
    return lines


def read_lake_runs(runs_root: str, ways: int | None = None) -> list[Trial]:
    """Every run folder `runNN` of `runs_root` (byte order), its `class_labels.txt` in order.

    Each line `runNN/test/itemKK.png runNN/training/classJJ.png` is one trial: the query and
    its answer; the candidates are the run's distinct answer images in byte order of their
    paths (as the official demo sorts them). With `ways`, every run must have that many.
    """
    if not os.path.isdir(runs_root):
        raise InputError(f"{runs_root}: not a folder, expected Lake's all_runs (run01..run20)")
    names = sorted(
        (e.name for e in os.scandir(runs_root) if e.is_dir() and _RUN_NAME.fullmatch(e.name)),
        key=os.fsencode,
    )
    if not names:
        raise InputError(f"{runs_root}: no runNN folder, expected Lake's all_runs (run01..run20)")
    trials: list[Trial] = []
    for run, name in enumerate(names):
        path = os.path.join(runs_root, name, LABELS_FILE)
        lines = _read_labels(path, runs_root)
        candidates = tuple(sorted({answer for _, answer in lines}, key=os.fsencode))
        if len(candidates) != len(lines):
            raise InputError(
                f"{path}: {len(lines)} trials but {len(candidates)} distinct answers, "
                "expected one training image per trial"
            )
        if ways is not None and len(candidates) != ways:
            raise InputError(
                f"{path}: the run is {len(candidates)}-way, expected params.ways = {ways}"
            )
        position = {c: k for k, c in enumerate(candidates)}
        trials.extend(Trial(q, candidates, position[a], run) for q, a in lines)
    return trials


def load_trials(root: str, trials: Sequence[Trial], progress: Progress | None = None) -> TrialSet:
    """Decode each distinct image of `trials` once (paths relative to `root`)."""
    if not trials:
        raise InputError("params.trials: 0 trials, expected at least one")
    ways = len(trials[0].candidates)
    index: dict[str, int] = {}
    for trial in trials:
        if len(trial.candidates) != ways:
            raise InputError(
                f"trial with {len(trial.candidates)} candidates, expected {ways} like the first"
            )
        for path in (trial.query, *trial.candidates):
            index.setdefault(path, len(index))
    paths = tuple(index)
    return TrialSet(
        root=root,
        paths=paths,
        images=load_images(root, paths, progress),
        queries=np.array([index[t.query] for t in trials], dtype=np.intp),
        candidates=np.array([[index[c] for c in t.candidates] for t in trials], dtype=np.intp),
        answers=np.array([t.answer for t in trials], dtype=np.intp),
        runs=np.array([t.run for t in trials], dtype=np.intp),
    )
