"""The siamese scorer of python-jax and its `evaluate` task (docs/evaluation.md).

`JaxScorer` embeds images with the compiled embedding program (batches of `batch` images; the
short last batch has its own program) and scores (query, candidate) pairs with the compiled
head, in fixed chunks of `HEAD_PAIRS` pairs (the last one padded), so that neither timed
section compiles: `prepare(images)` compiles every program a set of images needs before the
warm-up calls (`compile_s`). Trials, scoring (ties wrong), predictions and the task's metrics
are shared with python-torch: oneshot_common.evaluate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import numpy as np
import numpy.typing as npt
from oneshot_common import evaluate
from oneshot_common.evaluate import Index, Scorer, Scores
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import EvaluateParams
from oneshot_common.shape import Shape, network_shape
from oneshot_common.tasks import Outcome

from oneshot_jax.nettasks import initial_params, to_input
from oneshot_jax.network import Network, put, ready

HEAD_PAIRS = 1024  # (query, candidate) pairs per call of the compiled head

Params = dict[str, jax.Array]


class JaxScorer:
    """The siamese network as a scorer: the head's logit of the two embeddings.

    `params` returns the current weights (in `train` they change with every step)."""

    name = "siamese"

    def __init__(
        self,
        network: Network,
        params: Callable[[], Params],
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
        warmup_batches: int = 0,
    ) -> None:
        self.network = network
        self.shape: Shape = network.shape
        self.params = params
        self.batch = batch
        self.progress = progress  # (images embedded, total), after each batch
        self.warmup_batches = warmup_batches
        self.first_call_s: float | None = None  # the first embedding call (warm-up or timed)

    def prepare(self, count: int) -> None:
        """Compile the embedding programs of `count` images and the head (cached)."""
        weights = self.params()
        for size in {min(self.batch, count), count % self.batch} - {0}:
            self.network.embed(weights, size)
        self.network.head(weights, HEAD_PAIRS)

    def warm_up(self, images: npt.NDArray[np.uint8]) -> float | None:
        """Compile, then `warmup_batches` untimed embedding calls on the first batch; the first
        call's seconds (None without warm-up calls). Steady state, docs/protocol.md."""
        self.prepare(len(images))
        if self.warmup_batches == 0 or len(images) == 0:
            return None
        weights = self.params()
        program = self.network.embed(weights, min(self.batch, len(images)))
        first_s = 0.0
        for index in range(self.warmup_batches):
            began = time.perf_counter()
            x = to_input(images[: self.batch], self.shape.input)
            ready(program(weights, x))
            if index == 0:
                first_s = time.perf_counter() - began
                self.first_call_s = first_s
        return first_s

    def embed(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Packed images [M, 1379] -> embeddings [M, E] (host), unpacking included."""
        weights, parts = self.params(), []
        for start in range(0, len(images), self.batch):
            began = time.perf_counter()
            chunk = images[start : start + self.batch]
            x = to_input(chunk, self.shape.input)
            parts.append(self.network.embed(weights, len(chunk))(weights, x))
            if start == 0 and self.first_call_s is None:
                ready(parts[-1])
                self.first_call_s = time.perf_counter() - began
            if self.progress is not None:
                self.progress(min(start + self.batch, len(images)), len(images))
        if not parts:
            return np.empty((0, self.shape.embedding), dtype=np.float32)
        return np.concatenate([np.asarray(p) for p in parts])  # waits for every batch

    def similarity(
        self, embeddings: npt.NDArray[np.float32], queries: Index, candidates: Index
    ) -> Scores:
        weights = self.params()
        program = self.network.head(weights, HEAD_PAIRS)
        count = len(queries)
        scores = np.empty(count, dtype=np.float64)
        for start in range(0, count, HEAD_PAIRS):
            stop = min(start + HEAD_PAIRS, count)
            emb1 = np.zeros((HEAD_PAIRS, self.shape.embedding), dtype=np.float32)
            emb2 = np.zeros((HEAD_PAIRS, self.shape.embedding), dtype=np.float32)
            emb1[: stop - start] = embeddings[queries[start:stop]]
            emb2[: stop - start] = embeddings[candidates[start:stop]]
            logits = program(weights, put(emb1), put(emb2))
            scores[start:stop] = np.asarray(logits)[: stop - start]
        return scores

    def extra_metrics(self) -> dict[str, float]:
        """`compile_s` of the scorer's programs, for the task's metrics."""
        return {"compile_s": self.network.compile_s}


def network_scorer(job: Job, params: EvaluateParams, events: Events) -> Scorer:
    """The network of `model` with `inputs.weights` as a scorer (oneshot_common.evaluate)."""
    shape = network_shape(job)
    weights = initial_params(job, shape)  # check_evaluate required inputs.weights
    return JaxScorer(
        Network(shape),
        lambda: weights,
        params.batch,
        lambda done, total: events.progress(done, total, "images"),
        params.warmup_batches,
    )


def run_evaluate(job: Job, events: Events) -> Outcome:
    """`evaluate`: one-shot accuracy by Koch's or Lake's protocol; writes predictions.tsv."""
    return evaluate.run_evaluate(job, events, network_scorer)
