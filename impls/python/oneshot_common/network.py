"""`Network`: what a Python framework supplies to the shared task loops (the Python side of
impls/rust/core/src/network/backend.rs).

oneshot_common runs every network task's loop around it: `forward` and `step` (nettasks.py),
`train` (training.py) and `evaluate` (evaluate.py), reading jobs, loading and unpacking images,
timing with `StepClock` and writing files; the frameworks (oneshot_torch, oneshot_jax, and
python-torch-compile through oneshot_torch) differ only in the network's arithmetic and are
measured the same way. The siamese scorer of `evaluate` and of `train`'s validation is
netscorer.py's `NetworkScorer`, its loops written once around a `ScoringNetwork` (below): one
batch's embeddings and one chunk's head logits. `serve` (serving.py) runs around a
`ServingNetwork`: a `ScoringNetwork` that also enrols a support set and answers one query.

Inputs are built untimed (`pair_inputs`, `prepare`), then `forward` or `step` runs inside the
timed section and must have finished its work when it returns (torch synchronises a GPU, jax
blocks until ready), so that the clocks measure the computation; `sync` runs just before a
timed section starts. Weights and outputs are written in the interchange layout
(docs/protocol.md), the same for every framework.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from oneshot_common.evaluate import Index, Scorer
    from oneshot_common.netjob import PairSource
    from oneshot_common.trials import TrialSet

Packed = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]


class Network(Protocol):
    """A siamese network of one framework, built from a job (weights loaded or initialised)."""

    # Whether `forward` also warms up the short last batch's call before the timed calls
    # (a compiled program per batch size: python-jax).
    warm_every_size: bool

    def compile_forward(self, sizes: list[int]) -> None:
        """Before `forward`'s calls: compile for these batch sizes (largest first), or nothing."""
        ...

    def compile_step(self, batch: int, gradients: bool) -> None:
        """Before `step`'s steps: compile the step at `batch` (and the gradients), or nothing."""
        ...

    def compile(self, source: PairSource, trials: TrialSet | None, scorer: Scorer | None) -> None:
        """`train`, after the data is loaded, before the first step: compile, or nothing."""
        ...

    def inference(self) -> AbstractContextManager[Any]:
        """The context `forward`'s calls run in (torch: inference mode)."""
        ...

    def pair_inputs(self, left: Packed, right: Packed) -> Any:
        """One `forward` call's inputs (untimed): packed images [B, 1379], left and right."""
        ...

    def sync(self) -> None:
        """Wait for queued work before a timed section reads the clock (a GPU); or nothing."""
        ...

    def forward(self, inputs: Any) -> Any:
        """Timed: embeddings of both towers and logits of prepared pairs, computed when it
        returns."""
        ...

    def to_host(self, outputs: Any) -> tuple[Floats, Floats, Floats]:
        """`forward`'s outputs as host arrays: emb1 [B, E], emb2 [B, E], logits [B]."""
        ...

    def start_epoch(self, epoch: int) -> None:
        """The optimiser's schedule at the start of `epoch` (`step` runs at epoch 0)."""
        ...

    def prepare(self, pixels1: Packed, pixels2: Packed, labels: Packed) -> Any:
        """One training batch's inputs (untimed): uint8 [B, 105, 105] twice, labels [B]."""
        ...

    def gradients_before_step(self, batch: Any) -> bool:
        """Untimed, before `step` 0 when the job saves gradients: take them now and return
        False, or return True so that `step` keeps them (the step's own backward)."""
        ...

    def step(self, batch: Any, keep_gradients: bool = False) -> float:
        """Timed: one optimiser step on a prepared batch; its loss. A non-finite loss leaves
        the weights as they were before the step."""
        ...

    def scorer(self) -> Scorer:
        """The validation scorer of the current weights (`train`)."""
        ...

    def save(self, path: str) -> None:
        """Write the current weights (safetensors, interchange names)."""
        ...

    def save_gradients(self, path: str) -> None:
        """Write the gradients taken for step 0 (`grad.` + interchange names)."""
        ...

    def save_outputs(self, tensors: dict[str, Floats], path: str) -> None:
        """Write host arrays as safetensors (`forward`'s outputs)."""
        ...

    def task_metrics(
        self, first_s: float, steady_s: float, first_batch: Callable[[], Any]
    ) -> dict[str, Any]:
        """`forward`'s and `step`'s own metrics, after the shared ones: threads, compilation;
        `first_batch` makes the first call's inputs again (untimed, e.g. to count ops)."""
        ...

    def timing_metrics(self, first_s: float, steady_step_s: float) -> dict[str, Any]:
        """`train`'s metrics placed after `first_batch_s` (compilation's share)."""
        ...

    def final_metrics(self) -> dict[str, Any]:
        """`train`'s metrics placed after `epoch_losses` (threads, compile time)."""
        ...


class ScoringNetwork(Protocol):
    """A siamese network of one framework as netscorer.py's `NetworkScorer` uses it: the
    embedding of one batch of images and the head's logits of one chunk of pairs.

    `embed_batch` may return before its work is done (jax dispatches asynchronously, a GPU
    queues kernels): `wait` blocks for one batch, `gather` for all of them."""

    # Pairs per `head` call, the last chunk padded by `head` (a compiled program of one size:
    # python-jax); None: every pair of a `similarity` call in one `head` call.
    head_pairs: int | None

    def prepare_scoring(self, images: int, batch: int) -> None:
        """Before the warm-up calls: compile what embedding `images` images in batches of
        `batch` and the head need (outside every timed section), or nothing."""
        ...

    def embedding(self) -> AbstractContextManager[Any]:
        """The context the embedding calls run in (torch: eval and inference mode, the
        network's mode restored on exit)."""
        ...

    def embed_batch(self, images: Packed, batch: int) -> Any:
        """Timed: embeddings [B, E] of one batch of packed images [B, 1379], B <= `batch`,
        unpacking included (python-torch-compile pads to `batch` and drops the padding)."""
        ...

    def wait(self, embeddings: Any) -> None:
        """Block until one batch's embeddings are computed."""
        ...

    def gather(self, parts: list[Any]) -> Any:
        """Timed: every batch's embeddings as one [M, E] array indexed by image, computed when
        it returns (a GPU synchronised, jax's arrays on the host); [0, E] without parts."""
        ...

    def head(self, embeddings: Any, queries: Index, candidates: Index) -> Floats:
        """Timed: the head's logits [P] on the host for pairs (image `queries[i]`, image
        `candidates[i]`), P <= `head_pairs`."""
        ...

    def scoring_metrics(self, first_s: float | None, steady_s: float) -> dict[str, Any]:
        """`evaluate`'s own metrics after `first_batch_s`, from the first embedding call and a
        steady one (compilation's share), or nothing."""
        ...


class ServingNetwork(ScoringNetwork, Protocol):
    """A `ScoringNetwork` that also serves (serving.py's `serve` loop): the support set's
    embeddings in one call, then one query image at a time against them. Every `enrol` and
    `query` call runs inside one `embedding()` context."""

    def prepare_serving(self, ways: int) -> None:
        """Before the cold query, inside `setup_s`: compile or prepare what a call of `ways`
        images, a call of one image and the head of 1 x `ways` pairs need (python-jax compiles
        them ahead), or nothing; never on the episodes' images."""
        ...

    def enrol(self, images: Packed) -> Any:
        """Timed (`enrol_s`): the embeddings of packed support images [ways, 1379] in ONE call
        of `ways` images, unpacking and pooling included, computed when it returns; whatever
        `query` takes back."""
        ...

    def query(self, support: Any, image: Packed) -> Floats:
        """Timed (the query's latency): one packed image [1, 1379] unpacked, pooled, embedded in
        a call of ONE image and scored against `support` (`enrol`'s) with the head: the logits
        `out(|e_query - e_k|)` [ways], float32 on the host, computed when it returns."""
        ...

    def serving_metrics(self) -> dict[str, Any]:
        """The network's own metrics of `serve` (threads, `compile_s`), or nothing."""
        ...
