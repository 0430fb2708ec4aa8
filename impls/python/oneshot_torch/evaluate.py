"""The siamese scorer of python-torch and its `evaluate` task (docs/evaluation.md).

`SiameseScorer` is oneshot_common.netscorer's `NetworkScorer` (the warm-up calls, the timed
embedding in batches of `batch` images, the head over the pairs, the task's metrics) around
`TorchScoring`, the network's part: the tower's embedding of one batch (in eval and inference
mode, the network's mode restored after; padded to `batch` when compiling, compiling.py) and
the head's logits of the pairs, all in one call. On a GPU a waited call and the gathered
embeddings synchronise the device. Trials, scoring (ties wrong), predictions and the task's
metrics are shared with every Python implementation: oneshot_common.evaluate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from oneshot_common import evaluate
from oneshot_common.evaluate import Index, Scorer
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.netscorer import NetworkScorer
from oneshot_common.network import Floats
from oneshot_common.params import EvaluateParams
from oneshot_common.tasks import Outcome

from oneshot_torch.compiling import compile_metrics, pad_batch

if TYPE_CHECKING:
    import torch

    from oneshot_torch.model import SiameseNet


class TorchScoring:
    """`SiameseNet` as a `ScoringNetwork` (oneshot_common.network)."""

    head_pairs: int | None = None  # every pair in one call of the head

    def __init__(self, net: SiameseNet) -> None:
        self.net = net
        self.device: torch.device | None = None  # the network's, while embedding

    def prepare_scoring(self, images: int, batch: int) -> None:
        pass  # eager; python-torch-compile compiles inside the first (warm-up) call

    @contextlib.contextmanager
    def embedding(self) -> Iterator[None]:
        import torch

        from oneshot_torch.device import net_device

        net = self.net
        self.device = net_device(net)
        was_training = net.training
        net.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            net.train(was_training)

    def embed_batch(self, images: npt.NDArray[np.uint8], batch: int) -> torch.Tensor:
        from oneshot_torch.nettasks import to_input

        assert self.device is not None  # inside embedding()
        x = to_input(pad_batch(images, batch), self.net.shape.input, self.device)
        return self.net.embed(x)[: len(images)]

    def wait(self, embeddings: torch.Tensor) -> None:
        from oneshot_torch.device import synchronize

        assert self.device is not None
        synchronize(self.device)

    def gather(self, parts: list[torch.Tensor]) -> torch.Tensor:
        import torch

        embeddings = torch.cat(parts) if parts else torch.empty(0, self.net.shape.embedding)
        self.wait(embeddings)  # on a GPU: the embedding time ends when the kernels do
        return embeddings

    def head(self, embeddings: torch.Tensor, queries: Index, candidates: Index) -> Floats:
        import torch

        device = embeddings.device
        rows, columns = torch.from_numpy(queries), torch.from_numpy(candidates)
        if device.type != "cpu":
            rows, columns = rows.to(device), columns.to(device)
        with torch.inference_mode():
            logits = self.net.head(embeddings[rows], embeddings[columns])
        return logits.cpu().numpy()  # float32; NetworkScorer widens it into its float64 scores

    def scoring_metrics(self, first_s: float | None, steady_s: float) -> dict[str, Any]:
        return dict(compile_metrics(first_s, steady_s)) if first_s is not None else {}


class SiameseScorer(NetworkScorer):
    """The siamese network as a scorer: the head's logit of the two embeddings."""

    def __init__(
        self,
        net: SiameseNet,
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
        warmup_batches: int = 0,
    ) -> None:
        super().__init__(TorchScoring(net), batch, progress, warmup_batches)


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
    return evaluate.run_evaluate(job, events, network_scorer)
