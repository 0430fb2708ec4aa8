"""Command line of python-torch: `python -m oneshot_torch run JOB.json | version`, and
`export-onnx --weights W --model JSON --out F` (onnx_export.py: the ONNX export of the ONNX
engines, docs/protocol.md "The ONNX export").

The program's identity for the shared command line (oneshot_common.cli): its id, its task
runner (tasks.run_task) and its version report. Argument parsing, error lines, exit codes and
result.json are oneshot_common.cli's, the same for every Python implementation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

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


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line `error: ...`, exit 2 (argparse prints its usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: export-onnx: {message}", file=sys.stderr)
        sys.exit(2)


def export_onnx(argv: Sequence[str]) -> int:
    """`export-onnx`: one JSON line (the file, its bytes, the opset) or one error line, exit 2."""
    from oneshot_common.errors import OneshotError

    parser = _OneLineParser(
        prog="python -m oneshot_torch export-onnx",
        description="Export the tower of a weights file to ONNX (docs/protocol.md).",
    )
    parser.add_argument("--weights", required=True, help="the weights file (safetensors)")
    parser.add_argument("--model", required=True, help="the job's model as JSON")
    parser.add_argument("--out", required=True, help="the ONNX file to write")
    args = parser.parse_args(argv)
    from oneshot_torch.onnx_export import export_onnx as export

    try:
        written = export(args.weights, args.model, args.out)
    except OneshotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(written), flush=True)
    return 0


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["export-onnx"]:
        return export_onnx(args[1:])
    return cli.main(PROGRAM, args, started)
