"""python-torch's (and python-torch-compile's) `serve` task (docs/protocol.md, "`serve`").

The loop is oneshot_common.serving's, written once for every Python implementation; this module
is the network's part, `TorchServing` (a `ServingNetwork`): the support set embedded in one call
of `ways` images, a query embedded in a call of one image, the head `out(|e - e_k|)` broadcast
against the cached support embeddings, the logits as a numpy array. All of it under
`torch.inference_mode()` in eval mode (TorchScoring.embedding). torch is imported inside
`build`, so that importing the framework is part of `setup_s`, and torch's threads are set
there before the first tensor operation.

Memory format: the network keeps python-torch's channels-last weights and activations (model.py)
at batch 1 too: at the paper shape, one image embedded (unpacking included) took 60 ms (median
of 60, 1 thread) channels-last against 69 ms for a contiguous (NCHW) copy of the tower, and 228
against 275 ms at 2 threads (indicative only: a shared 2-core Zen 4 at load average 5).

python-torch-compile: `prepare_serving` runs the compiled tower once at `ways` images and once
at one image on blank images, before the cold query, so that no query compiles; the seconds
are `compile_s` (inside `setup_s`, so the cold start to the first answer shows them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from oneshot_common import serving
from oneshot_common.data import PACKED_BYTES
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.network import Floats, Packed
from oneshot_common.tasks import Outcome

from oneshot_torch import compiling
from oneshot_torch.evaluate import TorchScoring

if TYPE_CHECKING:
    import torch


class TorchServing(TorchScoring):
    """`SiameseNet` as a `ServingNetwork` (oneshot_common.network)."""

    compile_s: float | None = None  # python-torch-compile: the preparing calls' seconds

    def prepare_serving(self, ways: int) -> None:
        if not compiling.enabled():
            return  # eager: nothing to prepare; the cold query is the first call
        began = time.perf_counter()
        blank = np.zeros((ways, PACKED_BYTES), dtype=np.uint8)
        with self.embedding():
            self.query(self.enrol(blank), blank[:1])
        self.compile_s = time.perf_counter() - began

    def enrol(self, images: Packed) -> torch.Tensor:
        from oneshot_torch.nettasks import to_input

        assert self.device is not None  # inside embedding()
        return self.net.embed(to_input(images, self.net.shape.input, self.device))

    def query(self, support: torch.Tensor, image: Packed) -> Floats:
        from oneshot_torch.nettasks import to_input

        assert self.device is not None  # inside embedding()
        embedding = self.net.embed(to_input(image, self.net.shape.input, self.device))
        logits: Floats = self.net.head(embedding, support).cpu().numpy()
        return logits

    def serving_metrics(self) -> dict[str, Any]:
        import torch

        metrics: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
        if self.compile_s is not None:
            metrics["compile_s"] = self.compile_s
            metrics["compiled_graphs"] = compiling.compiled_graphs()
        return metrics


def build(job: Job) -> TorchServing:
    """The network of `model` with `inputs.weights` (serving.check_serve required both)."""
    from oneshot_common.shape import network_shape

    from oneshot_torch.tasks import configure_torch

    configure_torch(job.threads)  # imports torch: part of setup_s
    from oneshot_torch.nettasks import make_net

    return TorchServing(make_net(job, network_shape(job)))


def run_serve(job: Job, events: Events) -> Outcome:
    """`serve`: one query at a time against cached support embeddings (oneshot_common.serving)."""
    return serving.run_serve(job, events, build)
