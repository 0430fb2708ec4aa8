"""Shared inputs: pair files, initial or trained weights, made once by the baseline
implementation, and the ONNX export of the weights for the ONNX engines (`model_file: onnx`),
made once per weights file by python-torch's exporter."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
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
    A task's `weights: PATH` uses that file instead; `weights: {train: PARAMS}` the weights of
    one `train` job of the baseline with PARAMS (shared); `weights: trained` takes each
    implementation's own weights from the latest earlier `train` task (not shared). A network
    task that an implementation with `model_file: onnx` runs also gets the weights' ONNX export
    (`onnx`). These input jobs always run on the CPU (no `device` in them), whatever the
    config's `device`."""
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
        elif isinstance(task.weights, Mapping):
            params = {"init": config.init, **task.weights["train"]}  # the config's init
            inputs["weights"] = make_input(
                ctx, f"weights-train-{digest(params)}", "train", params, "weights.safetensors"
            )
        elif task.weights not in (None, "trained"):
            inputs["weights"] = Path(str(task.weights))
        onnx_impls = [i for i in ctx.chosen if i.model_file == "onnx" and i.implements(task.name)]
        if onnx_impls and "weights" in inputs:
            inputs["onnx"] = export_onnx(ctx, inputs["weights"])
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
        model=impls.job_model(baseline, ctx.config.model) if task in ("init", "train") else None,
        optimizer=ctx.config.optimizer if task == "train" else None,
        augment=ctx.config.augment if task == "train" else None,
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


def digest(params: Mapping[str, Any]) -> str:
    """A short name for a set of params (the folder of the input they make)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def export_onnx(ctx: Context, weights: Path) -> Path:
    """The ONNX export of `weights` (docs/protocol.md, "The ONNX export"), made once per weights
    file by python-torch's exporter with the harness's own interpreter."""
    out = ctx.run_dir / "inputs" / f"onnx-{digest({'weights': str(weights)})}"
    if (out / ".complete").is_file():
        return out / "model.onnx"
    out.mkdir(parents=True, exist_ok=True)
    model = impls.job_model(ctx.chosen[0], ctx.config.model) or {}
    model = {k: v for k, v in model.items() if k in ("filters", "kernels", "embedding", "input")}
    cmd = [
        sys.executable, "-m", "oneshot_torch", "export-onnx", "--weights", str(weights),
        "--model", json.dumps(model), "--out", str(out / "model.onnx"),
    ]  # fmt: skip
    ctx.display.line(f"exporting {weights.name} to ONNX with python-torch ...")
    record = run_process(
        cmd,
        cwd=impls.IMPLS_DIR / "python",
        env=impls.job_env(ctx.config.threads),
        log_dir=out,
        timeout_s=ctx.config.timeout_s,
    )
    if not record.ok or not (out / "model.onnx").is_file():
        raise HarnessError(
            f"exporting {weights} to ONNX failed ({describe_failure(record)}); "
            f"see {out / 'stderr.txt'}"
        )
    (out / ".complete").write_text("ok\n")
    return out / "model.onnx"
