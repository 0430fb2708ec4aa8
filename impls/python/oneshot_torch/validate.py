"""Validation one-shot accuracy during training (docs/protocol.md, "train").

A stand-in for `evaluate.evaluate_one_shot` (the `evaluate` task's Koch protocol) until training
switches to it: trials are drawn once from `dataset.eval_root` with `Rng(seed, "trials")`, every
distinct image is embedded once per validation, and a trial is correct only if the true
candidate's logit is strictly the largest (ties count as wrong, so a constant network
scores 0, never 100%).

Trial t, for `ways` N: an alphabet `a` uniformly among the alphabets with at least N characters;
N distinct characters of `a` by a partial Fisher-Yates shuffle (`j = i + below(n - i)`, swap);
m = the fewest images among them; drawers `d1 = below(m)`, `d2 = below(m - 1)` (+1 if >= d1);
the true candidate's position `below(N)`; the query is drawer d1 of the true character and the
candidates are drawer d2 of each of the N characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from oneshot_torch.data import load_images, unpack_bits
from oneshot_torch.errors import InputError
from oneshot_torch.model import SiameseNet, prepare_images
from oneshot_torch.rng import Rng
from oneshot_torch.sampling import Dataset, scan_dataset

EMBED_BATCH = 128


@dataclass(frozen=True)
class Trials:
    """Drawn trials: image indices into `images`, the query and candidates of each trial."""

    images: npt.NDArray[np.uint8]  # packed [M, 1379], each distinct image once
    queries: npt.NDArray[np.intp]  # [T]
    candidates: npt.NDArray[np.intp]  # [T, N]
    targets: npt.NDArray[np.intp]  # [T], position of the true candidate


def draw_trials(
    dataset: Dataset, ways: int, trials: int, seed: int
) -> list[tuple[str, list[str], int]]:
    """(query path, candidate paths, true position) of each trial, as the module docstring says."""
    eligible = [a for a, size in enumerate(dataset.alphabet_size) if size >= ways]
    if not eligible:
        raise InputError(
            f"{dataset.root}: no alphabet has {ways} characters, expected at least one "
            f"for {ways}-way validation trials"
        )
    rng = Rng(seed, "trials")
    drawn: list[tuple[str, list[str], int]] = []
    for _ in range(trials):
        alphabet = eligible[rng.below(len(eligible))]
        first, size = dataset.alphabet_start[alphabet], dataset.alphabet_size[alphabet]
        order = list(range(size))
        for i in range(ways):
            j = i + rng.below(size - i)
            order[i], order[j] = order[j], order[i]
        chars = [first + k for k in order[:ways]]
        fewest = min(len(dataset.images[c]) for c in chars)
        d1 = rng.below(fewest)
        d2 = rng.below(fewest - 1)
        if d2 >= d1:
            d2 += 1
        target = rng.below(ways)
        query = dataset.images[chars[target]][d1]
        drawn.append((query, [dataset.images[c][d2] for c in chars], target))
    return drawn


def prepare_trials(root: str, ways: int, trials: int, seed: int) -> Trials:
    """Scan `root`, draw the trials and decode each distinct image once."""
    dataset = scan_dataset(root)
    drawn = draw_trials(dataset, ways, trials, seed)
    index: dict[str, int] = {}
    for query, candidates, _ in drawn:
        for path in (query, *candidates):
            index.setdefault(path, len(index))
    images = load_images(root, list(index))
    return Trials(
        images=images,
        queries=np.array([index[q] for q, _, _ in drawn], dtype=np.intp),
        candidates=np.array([[index[c] for c in cands] for _, cands, _ in drawn], dtype=np.intp),
        targets=np.array([t for _, _, t in drawn], dtype=np.intp),
    )


def one_shot_accuracy(net: SiameseNet, trials: Trials) -> float:
    """Fraction of trials whose true candidate has strictly the largest logit."""
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        parts = []
        for start in range(0, len(trials.images), EMBED_BATCH):
            packed = trials.images[start : start + EMBED_BATCH]
            pixels = torch.from_numpy(unpack_bits(packed)).to(torch.float32)
            parts.append(net.embed(prepare_images(pixels, net.shape.input)))
        emb = torch.cat(parts)
        queries = emb[torch.from_numpy(trials.queries)]  # [T, E]
        candidates = emb[torch.from_numpy(trials.candidates)]  # [T, N, E]
        logits = net.head(
            queries.unsqueeze(1).expand_as(candidates).reshape(-1, emb.shape[1]),
            candidates.reshape(-1, emb.shape[1]),
        ).reshape(candidates.shape[:2])
        targets = torch.from_numpy(trials.targets)
        true_logit = logits.gather(1, targets.unsqueeze(1))
        others = logits.scatter(1, targets.unsqueeze(1), float("-inf"))
        correct = true_logit.squeeze(1) > others.max(dim=1).values
    net.train(was_training)
    return float(correct.to(torch.float64).mean())
