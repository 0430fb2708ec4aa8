"""The state of one experiment while it runs: config, folders, implementations, the document.

`results` is the working results document (harness/results.py's `Results`, immutable): each
job's run replaces its measurement through `Results.with_measurement`, and `save` writes the
document after every job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.process import impls
from harness.results import Results
from harness.results import save as save_results
from harness.run.config import Config
from harness.run.display import Display


@dataclass
class Context:
    config: Config
    run_dir: Path
    root: Path
    eval_root: Path | None
    chosen: list[impls.Implementation]
    display: Display
    results: Results


def require_new_folder(run_dir: Path) -> None:
    """Refuse, before any work, a run folder that already holds something."""
    if run_dir.exists() and any(run_dir.iterdir()):
        raise HarnessError(f"{run_dir}: output folder exists and is not empty; pass a new --out")


def save(ctx: Context) -> None:
    save_results(ctx.run_dir / "results.json", ctx.results)
