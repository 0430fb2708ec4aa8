"""Counting the ATen operator calls of one network call: the metric `ops_per_call`.

`count_aten_ops(call)` runs `call()` once under a `TorchDispatchMode` that counts every ATen
operator dispatched below autograd, the backward's included (the autograd engine runs it with
the mode active): a composite operator counts as the operators it decomposes into (`linear`:
`t` and `addmm`), an operator's own internal calls are not counted, and non-ATen operators
(the optimiser's `profiler.*` record-function markers) are left out. The harness divides the
time of one timed call by this count for python-torch's per-operation overhead (issue 14).

`forward` and `step` make the counting call once, after their timed loop and after writing
their outputs, on the same inputs as a timed call, so it changes no timed figure, no output
file and no peak memory (docs/protocol.md, "`ops_per_call`"). python-torch-compile leaves the
metric out: a dispatch mode around a compiled function would make dynamo compile again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode


class _AtenCounter(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Passes every operator through unchanged, counting the ATen ones."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.calls = 0

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func.namespace == "aten":
            self.calls += 1
        return func(*args, **(kwargs or {}))


def count_aten_ops(call: Callable[[], object]) -> int:
    """The ATen operator calls that `call()` dispatches (it runs once, for real)."""
    counter = _AtenCounter()
    with counter:
        call()
    return counter.calls
