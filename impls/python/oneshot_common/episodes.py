"""The episodes of the `serve` task (docs/protocol.md, "`serve`", "Episodes").

An episode is `ways` support images, one per character, and its queries, each answered by the
support position of its character. `draw_koch_episodes` draws them like Koch's trials
(trials.py, docs/evaluation.md) with one generator `Rng(seed, "episodes")`, each episode in this
order: the alphabet, `ways` characters by the partial Fisher-Yates, the drawers `d1 = below(m)`,
`d2 = below(m - 1)` (`d2 += 1` when `d2 >= d1`), and no answer draw; support image k is image
`d2` of character `order[k]`, query k image `d1` of the same character (answer k).
`lake_episodes` makes run r of Lake's `all_runs` episode r: its distinct training paths in byte
order are the support images, its `class_labels.txt` lines in file order the queries.
The Rust core draws the same (impls/rust/core/src/episodes.rs); `format_episodes` writes
`episodes.tsv`, which the harness compares byte for byte between implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from oneshot_common.data import Progress, load_images
from oneshot_common.errors import InputError
from oneshot_common.rng import Rng
from oneshot_common.sampling import Dataset
from oneshot_common.trials import draw_characters, eligible_alphabets, read_lake_runs

EPISODES_HEADER = "episode\trole\tindex\tpath\tanswer"


@dataclass(frozen=True)
class Episode:
    """Paths relative to the episodes' root; query k is answered by support `answers[k]`."""

    support: tuple[str, ...]
    queries: tuple[str, ...]
    answers: tuple[int, ...]


@dataclass(frozen=True)
class EpisodeSet:
    """Episodes with each distinct image decoded once (rows of `images`)."""

    root: str
    episodes: tuple[Episode, ...]
    images: npt.NDArray[np.uint8]  # [M, 1379] bit-packed, 1 = ink
    support_rows: tuple[npt.NDArray[np.intp], ...]  # per episode [ways]
    query_rows: tuple[npt.NDArray[np.intp], ...]  # per episode [queries]

    @property
    def ways(self) -> int:
        return len(self.episodes[0].support)


def draw_koch_episodes(dataset: Dataset, ways: int, count: int, rng: Rng) -> list[Episode]:
    """`count` Koch episodes of `ways` characters, drawn in the documented order."""
    if ways < 2:
        raise InputError(f"params.ways: {ways} is out of range, expected at least 2")
    eligible = eligible_alphabets(dataset, ways)
    drawn: list[Episode] = []
    for _ in range(count):
        chars, d1, d2 = draw_characters(dataset, eligible, ways, rng)  # no answer draw
        support = tuple(dataset.images[c][d2] for c in chars)
        queries = tuple(dataset.images[c][d1] for c in chars)
        drawn.append(Episode(support, queries, tuple(range(ways))))
    return drawn


def lake_episodes(runs_root: str, ways: int) -> list[Episode]:
    """Every run of Lake's `all_runs` as one episode (trials.read_lake_runs checks the runs)."""
    by_run: dict[int, list[tuple[str, tuple[str, ...], int]]] = {}
    for trial in read_lake_runs(runs_root, ways):
        by_run.setdefault(trial.run, []).append((trial.query, trial.candidates, trial.answer))
    episodes = []
    for run in sorted(by_run):
        lines = by_run[run]
        support = lines[0][1]  # the run's distinct training paths, byte order
        episodes.append(
            Episode(support, tuple(q for q, _, _ in lines), tuple(a for _, _, a in lines))
        )
    return episodes


def load_episodes(
    root: str, episodes: Sequence[Episode], progress: Progress | None = None
) -> EpisodeSet:
    """Decode each distinct image of `episodes` once (paths relative to `root`)."""
    if not episodes:
        raise InputError("params.episodes: 0 episodes, expected at least one")
    index: dict[str, int] = {}
    for episode in episodes:
        for path in (*episode.support, *episode.queries):
            index.setdefault(path, len(index))
    return EpisodeSet(
        root=root,
        episodes=tuple(episodes),
        images=load_images(root, tuple(index), progress),
        support_rows=tuple(np.array([index[p] for p in e.support], np.intp) for e in episodes),
        query_rows=tuple(np.array([index[p] for p in e.queries], np.intp) for e in episodes),
    )


def format_episodes(episodes: Sequence[Episode]) -> str:
    """episodes.tsv: per episode its support lines (index k, answer k), then its query lines."""
    lines = [EPISODES_HEADER]
    for e, episode in enumerate(episodes):
        lines.extend(f"{e}\tsupport\t{k}\t{path}\t{k}" for k, path in enumerate(episode.support))
        lines.extend(
            f"{e}\tquery\t{k}\t{path}\t{answer}"
            for k, (path, answer) in enumerate(zip(episode.queries, episode.answers, strict=True))
        )
    return "\n".join(lines) + "\n"
