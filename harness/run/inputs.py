"""Shared inputs: pair files and initial weights, made once by the baseline implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.process import impls
from harness.process.protocol import make_job, write_job
from harness.process.runner import run_process
from harness.process.tasks import TASKS
from harness.run.context import Context
from harness.run.job import describe_failure


def prepare_inputs(ctx: Context) -> dict[int, dict[str, Path]]:
    """Shared inputs per task: pair files (one per size) and initial weights (one per model),
    made once by the baseline implementation so that every implementation gets identical files.
    A task's `weights: PATH` uses that file instead; `weights: trained` takes each
    implementation's own weights from the latest earlier `train` task (not shared). These input
    jobs always run on the CPU (no `device` in them), whatever the config's `device`."""
    config = ctx.config
    files: dict[int, dict[str, Path]] = {}
    for index, task in enumerate(config.tasks):
        inputs: dict[str, Path] = {}
        spec = TASKS[task.name]
        if spec.needs_pairs(task.params):
            n = task.input_pairs or spec.input_pairs
            inputs["pairs"] = make_input(
                ctx, f"pairs-{n}", "sample", {"pairs": n, "same_alphabet": 0.5}, "pairs.tsv"
            )
        if task.weights is None and spec.needs_weights and spec.uses_network(task.params):
            inputs["weights"] = make_input(
                ctx,
                f"weights-init-{config.init}",
                "init",
                {"init": config.init},
                "weights.safetensors",
            )
        elif task.weights not in (None, "trained"):
            inputs["weights"] = Path(str(task.weights))
        files[index] = inputs
    return files


def make_input(ctx: Context, name: str, task: str, params: dict[str, Any], output: str) -> Path:
    out = ctx.run_dir / "inputs" / name
    if (out / ".complete").is_file():
        return out / output  # made before a resume, or by an earlier task of this run
    baseline = ctx.chosen[0]
    out.mkdir(parents=True, exist_ok=True)
    job = make_job(
        task=task,
        seed=ctx.config.seed,
        threads=ctx.config.threads,
        out_dir=out,
        root=ctx.root,
        eval_root=ctx.eval_root,
        params=params,
        model=impls.job_model(baseline, ctx.config.model) if task == "init" else None,
    )
    write_job(out / "job.json", job)
    ctx.display.line(f"preparing shared input {name} with {baseline.id} ...")
    record = run_process(
        baseline.command(out / "job.json"),
        cwd=baseline.folder,
        env=impls.job_env(ctx.config.threads),
        log_dir=out,
        timeout_s=ctx.config.timeout_s,
    )
    if not record.ok or not (out / output).is_file():
        raise HarnessError(
            f"preparing {name} with {baseline.id} failed "
            f"({describe_failure(record)}); see {out / 'stderr.txt'}"
        )
    (out / ".complete").write_text("ok\n")
    return out / output
