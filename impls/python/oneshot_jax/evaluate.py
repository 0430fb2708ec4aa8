"""The siamese scorer of python-jax and its `evaluate` task (docs/evaluation.md).

`JaxScorer` is oneshot_common.netscorer's `NetworkScorer` (the warm-up calls, the timed
embedding in batches of `batch` images, the head over the pairs in chunks, the task's metrics)
around `JaxScoring`, the network's part: the compiled embedding program of one batch (the short
last batch has its own program) and the compiled head on one chunk of `HEAD_PAIRS` pairs (the
last one padded). Neither timed section compiles: `prepare(count)` compiles every program a set
of `count` images needs before the warm-up calls (`compile_s`). The embedding is timed until
every batch is on the host. Trials, scoring (ties wrong), predictions and the task's metrics are
shared with python-torch: oneshot_common.evaluate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import jax
import numpy as np
import numpy.typing as npt
from oneshot_common import evaluate
from oneshot_common.evaluate import Index, Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netscorer import NetworkScorer
from oneshot_common.network import Floats
from oneshot_common.params import EvaluateParams
from oneshot_common.shape import Shape, network_shape
from oneshot_common.tasks import Outcome

from oneshot_jax.nettasks import initial_params, to_input
from oneshot_jax.network import Network, put, ready

HEAD_PAIRS = 1024  # (query, candidate) pairs per call of the compiled head

Params = dict[str, jax.Array]


class JaxScoring:
    """The compiled embedding and head programs as a `ScoringNetwork` (oneshot_common.network).

    `params` returns the current weights (in `train` they change with every step)."""

    head_pairs: int | None = HEAD_PAIRS

    def __init__(self, network: Network, params: Callable[[], Params]) -> None:
        self.network = network
        self.shape: Shape = network.shape
        self.params = params
        self.head_program: Any = None  # the compiled head, once looked up

    def prepare_scoring(self, images: int, batch: int) -> None:
        """Compile the embedding programs of `images` images and the head (cached)."""
        weights = self.params()
        for size in {min(batch, images), images % batch} - {0}:
            self.network.embed(weights, size)
        self.head_program = self.network.head(weights, HEAD_PAIRS)

    def embedding(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def embed_batch(self, images: npt.NDArray[np.uint8], batch: int) -> jax.Array:
        weights = self.params()
        x = to_input(images, self.shape.input)
        embeddings: jax.Array = self.network.embed(weights, len(images))(weights, x)
        return embeddings

    def wait(self, embeddings: jax.Array) -> None:
        ready(embeddings)

    def gather(self, parts: list[jax.Array]) -> npt.NDArray[np.float32]:
        if not parts:
            return np.empty((0, self.shape.embedding), dtype=np.float32)
        return np.concatenate([np.asarray(p) for p in parts])  # waits for every batch

    def head(
        self, embeddings: npt.NDArray[np.float32], queries: Index, candidates: Index
    ) -> Floats:
        weights = self.params()
        if self.head_program is None:  # not prepared: compiled here, once
            self.head_program = self.network.head(weights, HEAD_PAIRS)
        count = len(queries)
        emb1 = np.zeros((HEAD_PAIRS, self.shape.embedding), dtype=np.float32)
        emb2 = np.zeros((HEAD_PAIRS, self.shape.embedding), dtype=np.float32)
        emb1[:count] = embeddings[queries]
        emb2[:count] = embeddings[candidates]
        logits = self.head_program(weights, put(emb1), put(emb2))
        return np.asarray(logits)[:count]

    def scoring_metrics(self, first_s: float | None, steady_s: float) -> dict[str, Any]:
        """`compile_s` of the scorer's programs."""
        return {"compile_s": self.network.compile_s}


class JaxScorer(NetworkScorer):
    """The siamese network as a scorer: the head's logit of the two embeddings."""

    def __init__(
        self,
        network: Network,
        params: Callable[[], Params],
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
        warmup_batches: int = 0,
    ) -> None:
        super().__init__(JaxScoring(network, params), batch, progress, warmup_batches)


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
