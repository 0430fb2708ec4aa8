"""The siamese network as a `Scorer` (evaluate.py), its loops written once for every framework.

`NetworkScorer` runs `evaluate`'s and `train`'s validation loops around a `ScoringNetwork`
(network.py), which supplies only the per-batch computation: the embedding of one batch, the
head's logits of one chunk of pairs, and the waits.

- `prepare(count)`: whatever the network compiles for `count` images and the head (python-jax:
  a program per batch size, the short last batch's too, and the head's), before any timed call.
- `warm_up(images)`: `prepare`, then `warmup_batches` untimed embedding calls on the first
  batch, each waited for; the first call's seconds (docs/protocol.md, "Steady state and cold
  start"), or None without warm-up calls.
- `embed(images)`: the timed embedding, batches of `batch` images in order, progress after each;
  the first batch is waited for and timed when no warm-up call was (`first_call_s`); it returns
  when every batch is computed (`ScoringNetwork.gather`).
- `similarity(embeddings, queries, candidates)`: the head over the pairs in chunks of
  `head_pairs` (all at once when None), as float64 scores.
- `task_metrics(outcome, images)`: the network's own metrics of `evaluate` (compilation),
  from the first call and a steady one (`embed_s` over the batches).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from oneshot_common.network import ScoringNetwork

if TYPE_CHECKING:
    from oneshot_common.evaluate import Index, OneShotOutcome, Scores


class NetworkScorer:
    """A `ScoringNetwork` as a scorer: the head's logit of the two embeddings."""

    name = "siamese"

    def __init__(
        self,
        network: ScoringNetwork,
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
        warmup_batches: int = 0,
    ) -> None:
        self.network = network
        self.batch = batch
        self.progress = progress  # (images embedded, total), after each batch
        self.warmup_batches = warmup_batches
        self.first_call_s: float | None = None  # the first embedding call (warm-up or timed)

    def prepare(self, count: int) -> None:
        """Compile what embedding `count` images and scoring their pairs need (or nothing)."""
        self.network.prepare_scoring(count, self.batch)

    def warm_up(self, images: npt.NDArray[np.uint8]) -> float | None:
        """`prepare`, then `warmup_batches` untimed embedding calls on the first batch; the first
        call's seconds (None without warm-up calls). Steady state, docs/protocol.md."""
        network = self.network
        self.prepare(len(images))
        if self.warmup_batches == 0 or len(images) == 0:
            return None
        first_s = 0.0
        with network.embedding():
            for index in range(self.warmup_batches):
                began = time.perf_counter()
                network.wait(network.embed_batch(images[: self.batch], self.batch))
                if index == 0:
                    first_s = time.perf_counter() - began
                    self.first_call_s = first_s
        return first_s

    def embed(self, images: npt.NDArray[np.uint8]) -> Any:
        """Packed images [M, 1379] -> embeddings [M, E], every batch computed."""
        network, parts = self.network, []
        with network.embedding():
            for start in range(0, len(images), self.batch):
                began = time.perf_counter()
                parts.append(network.embed_batch(images[start : start + self.batch], self.batch))
                if start == 0 and self.first_call_s is None:
                    network.wait(parts[-1])
                    self.first_call_s = time.perf_counter() - began
                if self.progress is not None:
                    self.progress(min(start + self.batch, len(images)), len(images))
            return network.gather(parts)  # the embedding time ends when every batch is done

    def similarity(self, embeddings: Any, queries: Index, candidates: Index) -> Scores:
        """The head's logit of image `queries[i]` and image `candidates[i]`, for each i."""
        count = len(queries)
        chunk = self.network.head_pairs or max(1, count)
        scores = np.empty(count, dtype=np.float64)
        for start in range(0, count, chunk):
            stop = min(start + chunk, count)
            scores[start:stop] = self.network.head(
                embeddings, queries[start:stop], candidates[start:stop]
            )
        return scores

    def task_metrics(self, outcome: OneShotOutcome, images: int) -> dict[str, Any]:
        """The network's metrics of `evaluate` (e.g. `compile_s`), after `first_batch_s`."""
        batches = max(1, math.ceil(images / self.batch))
        return self.network.scoring_metrics(outcome.first_batch_s, outcome.embed_s / batches)
