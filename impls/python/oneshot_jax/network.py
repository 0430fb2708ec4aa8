"""The compiled programs of the network: forward, embedding, head, and THE training step.

Every program is a `jax.jit` function compiled ahead of time for each batch shape it will see
(`jitted.lower(abstract arguments).compile()`), before any timed section; the seconds spent
tracing and compiling add up in `Network.compile_s` (the `compile_s` metric), and the timed
calls run the compiled executables, so no shape in a timed loop ever recompiles. A task
compiles the shapes it needs up front: the batch, and the short last batch where there is one.

- `train_step(params, state, hyper, left, right, labels)`: forward of both towers, the mean
  BCE, its gradient and the optimiser update (optim.py) in ONE program; the parameters and the
  optimiser state are donated, so XLA updates them in place. On a non-finite loss it returns
  them unchanged (the weights before the failing step, which `train` then keeps).
- `gradients(...)`: the gradient alone, for `step`'s `save_gradients` (computed untimed, from
  the same weights and batch as step 0, before it runs).
- `forward(params, left, right)`, `embed(params, images)`, `head(params, e1, e2)`.
- `serve_query(params, image, support)`: `serve`'s query in ONE program: the embedding of one
  image and the head against the `ways` cached support embeddings (broadcast), the logits.

Arrays are device arrays on the one CPU device (threads.py); `put` copies host arrays there.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from oneshot_common.params import OptimizerSpec
from oneshot_common.shape import Shape

from oneshot_jax import model, optim

Params = dict[str, jax.Array]
F32 = np.float32
T = TypeVar("T")


def ready(tree: T) -> T:
    """Wait until every array of a pytree is computed (jax dispatches asynchronously)."""
    return jax.block_until_ready(tree)  # type: ignore[no-untyped-call, no-any-return]


def put(tree: Any) -> Any:
    """Host arrays (a pytree) -> device arrays, copied and ready."""
    return ready(jax.device_put(tree))


def spec(shape: tuple[int, ...]) -> Any:
    """An abstract float32 array of `shape`, for lowering without data."""
    return jax.ShapeDtypeStruct(shape, F32)  # type: ignore[no-untyped-call]


def _abstract(tree: Any) -> Any:
    """The shapes and dtypes of a pytree of arrays."""
    return jax.tree_util.tree_map(lambda a: spec(np.shape(a)), tree)


def _images(count: int, side: int) -> Any:
    return spec((count, side, side, 1))


def _train_step(
    spec: OptimizerSpec,
    params: Params,
    state: optim.State,
    hyper: optim.Hyper,
    left: jax.Array,
    right: jax.Array,
    labels: jax.Array,
) -> tuple[Params, optim.State, jax.Array]:
    loss, grads = jax.value_and_grad(model.batch_loss)(params, left, right, labels)
    new_params, new_state = optim.update(spec, params, grads, state, hyper)
    # A non-finite loss leaves weights and state as they were (the caller stops on it and
    # keeps the weights before the failing step, as python-torch does); a select, fused.
    finite = jnp.isfinite(loss)
    keep = functools.partial(jax.tree_util.tree_map, lambda new, old: jnp.where(finite, new, old))
    return keep(new_params, params), keep(new_state, state), loss


def _serve_query(params: Params, image: jax.Array, support: jax.Array) -> jax.Array:
    """Logits [ways] of one image [1, S, S, 1] against support embeddings [ways, E]."""
    return model.head(params, model.embed(params, image), support)


class Network:
    """One network shape's compiled programs, keyed by batch size; `compile_s` adds up."""

    def __init__(self, shape: Shape, spec: OptimizerSpec | None = None) -> None:
        self.shape = shape
        self.spec = spec
        self.compile_s = 0.0
        self._jitted: dict[str, Callable[..., Any]] = {
            "forward": jax.jit(model.forward),
            "embed": jax.jit(model.embed),
            "head": jax.jit(model.head),
            "gradients": jax.jit(jax.grad(model.batch_loss)),
            "serve_query": jax.jit(_serve_query),
        }
        if spec is not None:
            step = functools.partial(_train_step, spec)
            self._jitted["train_step"] = jax.jit(step, donate_argnums=(0, 1))
        self._compiled: dict[tuple[str, int], Any] = {}

    def _get(self, program: str, size: int, *abstract: Any) -> Any:
        key = (program, size)
        if key not in self._compiled:
            began = time.perf_counter()
            jitted: Any = self._jitted[program]
            self._compiled[key] = jitted.lower(*abstract).compile()
            self.compile_s += time.perf_counter() - began
        return self._compiled[key]

    def forward(self, params: Mapping[str, Any], pairs: int) -> Any:
        """forward(params, left, right) -> (emb1, emb2, logits) for `pairs` pairs."""
        side = self.shape.input
        return self._get(
            "forward", pairs, _abstract(params), _images(pairs, side), _images(pairs, side)
        )

    def embed(self, params: Mapping[str, Any], images: int) -> Any:
        """embed(params, images) -> embeddings [images, E]."""
        return self._get("embed", images, _abstract(params), _images(images, self.shape.input))

    def head(self, params: Mapping[str, Any], pairs: int) -> Any:
        """head(params, emb1, emb2) -> logits [pairs]."""
        emb = spec((pairs, self.shape.embedding))
        return self._get("head", pairs, _abstract(params), emb, emb)

    def serve_query(self, params: Mapping[str, Any], ways: int) -> Any:
        """serve_query(params, image, support) -> logits [ways] for one image [1, S, S, 1]."""
        image = _images(1, self.shape.input)
        support = spec((ways, self.shape.embedding))
        return self._get("serve_query", ways, _abstract(params), image, support)

    def gradients(self, params: Mapping[str, Any], pairs: int) -> Any:
        """gradients(params, left, right, labels) -> the mean BCE's gradient (a params dict)."""
        side = self.shape.input
        labels = spec((pairs,))
        return self._get(
            "gradients",
            pairs,
            _abstract(params),
            _images(pairs, side),
            _images(pairs, side),
            labels,
        )

    def train_step(
        self, params: Mapping[str, Any], state: optim.State, hyper: optim.Hyper, pairs: int
    ) -> Any:
        """train_step(params, state, hyper, left, right, labels) -> (params, state, loss); the
        parameters and the state passed in are donated (deleted) by the call."""
        side = self.shape.input
        labels = spec((pairs,))
        return self._get(
            "train_step",
            pairs,
            _abstract(params),
            _abstract(state),
            _abstract(hyper),
            _images(pairs, side),
            _images(pairs, side),
            labels,
        )
