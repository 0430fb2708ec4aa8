"""Command line of python-torch: `python -m oneshot_torch run JOB.json | version`.

The program's identity for the shared command line (oneshot_common.cli): its id, its task
runner (tasks.run_task) and its version report. Argument parsing, error lines, exit codes and
result.json are oneshot_common.cli's, the same for every Python implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

from oneshot_common import cli

from oneshot_torch import __version__
from oneshot_torch.tasks import run_task  # imports no torch: the task modules do, lazily


def library_versions() -> dict[str, str]:
    """numpy, Pillow, safetensors and torch (imported here), torch's threads, the GPU if any."""
    import numpy
    import PIL
    import safetensors
    import torch

    found: dict[str, str] = {}
    for label, module in (
        ("numpy", numpy),
        ("pillow", PIL),
        ("safetensors", safetensors),
        ("torch", torch),
    ):
        found[label] = str(module.__version__)
    found["torch_threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():  # only on a machine where `device: cuda` can run
        found["cuda_device"] = torch.cuda.get_device_name()
        found["torch_cuda"] = str(torch.version.cuda)
    return found


PROGRAM = cli.Program(
    impl_id="python-torch",
    package="oneshot_torch",
    version=__version__,
    description="The PyTorch implementation of oneshot-bench (protocol v1, docs/protocol.md).",
    run_task=run_task,
    library_versions=library_versions,
)


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    return cli.main(PROGRAM, argv, started)
