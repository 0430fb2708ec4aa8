"""Command line of python-jax: `python -m oneshot_jax run JOB.json | version`.

The program's identity for the shared command line (oneshot_common.cli): its id, its task
runner (tasks.run_task) and its version report. Argument parsing, error lines, exit codes and
result.json are oneshot_common.cli's, the same for every Python implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

from oneshot_common import cli

from oneshot_jax import __version__
from oneshot_jax.tasks import run_task  # imports no jax: the network task modules do, lazily


def library_versions() -> dict[str, str]:
    """numpy, Pillow, safetensors, jax and jaxlib (imported here, no backend started)."""
    import jax
    import jaxlib
    import numpy
    import PIL
    import safetensors

    found: dict[str, str] = {}
    for label, module in (
        ("numpy", numpy),
        ("pillow", PIL),
        ("safetensors", safetensors),
        ("jax", jax),
        ("jaxlib", jaxlib),
    ):
        found[label] = str(module.__version__)
    return found


PROGRAM = cli.Program(
    impl_id="python-jax",
    package="oneshot_jax",
    version=__version__,
    description="The JAX implementation of oneshot-bench (protocol v1, docs/protocol.md).",
    run_task=run_task,
    library_versions=library_versions,
)


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    return cli.main(PROGRAM, argv, started)
