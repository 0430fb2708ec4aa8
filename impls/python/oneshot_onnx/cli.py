"""Command line of the ONNX engines: `python -m oneshot_onnx --engine onnxruntime|openvino
run JOB.json | check JOB.json... | version`.

`--engine` picks the program (python-onnxruntime or python-openvino: its id, its task runner
tasks.Runner and its version report); the rest of the command line, error lines, exit codes
and result.json are oneshot_common.cli's, the same for every Python implementation. Neither
program imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oneshot_common import cli

from oneshot_onnx import __version__
from oneshot_onnx.engines import ENGINES
from oneshot_onnx.tasks import Runner


def library_versions(engine: str) -> dict[str, str]:
    """numpy, safetensors and the engine (imported here)."""
    import numpy
    import safetensors

    found = {"numpy": str(numpy.__version__), "safetensors": str(safetensors.__version__)}
    if engine == "onnxruntime":
        import onnxruntime  # type: ignore[import-untyped]

        found["onnxruntime"] = str(onnxruntime.__version__)
        found["ort_providers"] = ",".join(onnxruntime.get_available_providers())
    else:
        import openvino  # type: ignore[import-untyped]

        found["openvino"] = str(openvino.get_version())
    return found


def program(engine: str) -> cli.Program:
    """The protocol program of `engine`."""
    return cli.Program(
        impl_id=f"python-{engine}",
        package="oneshot_onnx",
        version=__version__,
        description=f"python-torch's ONNX export under {engine} (protocol v1, docs/protocol.md).",
        run_task=Runner(engine),
        library_versions=lambda: library_versions(engine),
    )


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point; `started` is `time.perf_counter()` taken when the program began."""
    parser = argparse.ArgumentParser(prog="python -m oneshot_onnx", add_help=False)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    known, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return cli.main(program(known.engine), rest, started)
