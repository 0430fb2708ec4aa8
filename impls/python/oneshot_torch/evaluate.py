"""The siamese scorer of python-torch and its `evaluate` task (docs/evaluation.md).

`SiameseScorer` embeds images with the network's tower (batches of `batch` images, after
`warmup_batches` untimed calls on the first batch) and scores (query, candidate) pairs with the
head's logit. Trials, scoring (ties wrong), predictions and the task's metrics are shared with
every Python implementation: oneshot_common.evaluate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from oneshot_common import evaluate
from oneshot_common.evaluate import Index, Scorer, Scores
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import EvaluateParams
from oneshot_common.tasks import Outcome

from oneshot_torch.compiling import compile_metrics, pad_batch

if TYPE_CHECKING:
    import torch

    from oneshot_torch.model import SiameseNet


class SiameseScorer:
    """The siamese network as a scorer: the head's logit of the two embeddings."""

    name = "siamese"

    def __init__(
        self,
        net: SiameseNet,
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
        warmup_batches: int = 0,
    ) -> None:
        self.net = net
        self.batch = batch
        self.progress = progress  # (images embedded, total), after each batch
        self.warmup_batches = warmup_batches
        self.first_call_s: float | None = None  # the first embedding call (warm-up or timed)

    def warm_up(self, images: npt.NDArray[np.uint8]) -> float | None:
        """`warmup_batches` untimed embedding calls on the first batch; the first call's seconds
        (None without warm-up calls). Steady state, docs/protocol.md."""
        import torch

        from oneshot_torch.device import net_device, synchronize
        from oneshot_torch.nettasks import to_input

        if self.warmup_batches == 0 or len(images) == 0:
            return None
        net = self.net
        device = net_device(net)
        was_training = net.training
        net.eval()
        first_s = 0.0
        try:
            with torch.inference_mode():
                for index in range(self.warmup_batches):
                    began = time.perf_counter()
                    first = pad_batch(images[: self.batch], self.batch)
                    net.embed(to_input(first, net.shape.input, device))
                    synchronize(device)
                    if index == 0:
                        first_s = time.perf_counter() - began
                        self.first_call_s = first_s
        finally:
            net.train(was_training)
        return first_s

    def embed(self, images: npt.NDArray[np.uint8]) -> torch.Tensor:
        import torch

        from oneshot_torch.device import net_device, synchronize
        from oneshot_torch.nettasks import to_input

        net, parts = self.net, []
        device = net_device(net)
        was_training = net.training
        net.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(images), self.batch):
                    began = time.perf_counter()
                    chunk = images[start : start + self.batch]
                    x = to_input(pad_batch(chunk, self.batch), net.shape.input, device)
                    parts.append(net.embed(x)[: len(chunk)])
                    if start == 0 and self.first_call_s is None:
                        synchronize(device)
                        self.first_call_s = time.perf_counter() - began
                    if self.progress is not None:
                        self.progress(min(start + self.batch, len(images)), len(images))
            embeddings = torch.cat(parts) if parts else torch.empty(0, net.shape.embedding)
            synchronize(device)  # on a GPU: the embedding time ends when the kernels do
        finally:
            net.train(was_training)
        return embeddings

    def similarity(self, embeddings: torch.Tensor, queries: Index, candidates: Index) -> Scores:
        import torch

        device = embeddings.device
        rows, columns = torch.from_numpy(queries), torch.from_numpy(candidates)
        if device.type != "cpu":
            rows, columns = rows.to(device), columns.to(device)
        with torch.inference_mode():
            logits = self.net.head(embeddings[rows], embeddings[columns])
        return logits.to(torch.float64).cpu().numpy()


def network_scorer(job: Job, params: EvaluateParams, events: Events) -> Scorer:
    """The network of `model` with `inputs.weights` as a scorer (oneshot_common.evaluate)."""
    from oneshot_common.shape import network_shape

    from oneshot_torch.nettasks import make_net

    net = make_net(job, network_shape(job))  # check_evaluate required inputs.weights
    return SiameseScorer(
        net,
        params.batch,
        lambda done, total: events.progress(done, total, "images"),
        params.warmup_batches,
    )


def run_evaluate(job: Job, events: Events) -> Outcome:
    """`evaluate`: one-shot accuracy by Koch's or Lake's protocol; writes predictions.tsv."""
    outcome = evaluate.run_evaluate(job, events, network_scorer)
    metrics = outcome.metrics
    first, embed_s, images = (metrics.get(k) for k in ("first_batch_s", "embed_s", "images"))
    if isinstance(first, float) and isinstance(embed_s, float) and isinstance(images, int):
        batches = max(1, math.ceil(images / job.params.batch))
        metrics.update(compile_metrics(first, embed_s / batches))
    return outcome
