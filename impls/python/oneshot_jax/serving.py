"""python-jax's `ServingNetwork` (oneshot_common.network) for the `serve` task.

`JaxServing` is python-jax's scorer network (evaluate.py's `JaxScoring`) plus `serve`'s part:
`prepare_serving(ways)` compiles, ahead (`lower().compile()`, network.py), the embedding of
`ways` images and ONE program for a query (the embedding of one image and the head against the
cached support embeddings), so that neither the cold query nor any later one compiles; the
seconds are `compile_s`, inside `setup_s`. `enrol` leaves the support embeddings on the device
(waited for); `query` copies its image to the device, runs the query program and returns the
logits as a host array (np.asarray waits for them), so a query's latency ends with the scores
on the host. Imported by serve.py's `build` only, after the backend has started.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from oneshot_common.network import Floats, Packed

from oneshot_jax.evaluate import JaxScoring
from oneshot_jax.nettasks import threads_metric, to_input
from oneshot_jax.network import ready


class JaxServing(JaxScoring):
    """The compiled programs of one network as a `ServingNetwork`."""

    enrol_program: Any = None
    query_program: Any = None

    def prepare_serving(self, ways: int) -> None:
        weights = self.params()
        self.enrol_program = self.network.embed(weights, ways)
        self.query_program = self.network.serve_query(weights, ways)

    def enrol(self, images: Packed) -> jax.Array:
        weights = self.params()
        support: jax.Array = ready(self.enrol_program(weights, to_input(images, self.shape.input)))
        return support

    def query(self, support: jax.Array, image: Packed) -> Floats:
        x = to_input(image, self.shape.input)
        logits: Floats = np.asarray(self.query_program(self.params(), x, support))
        return logits

    def serving_metrics(self) -> dict[str, Any]:
        return {"compile_s": self.network.compile_s, "xla_threads": threads_metric()}
