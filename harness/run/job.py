"""One job: write job.json, run the implementation under the monitor, record its `Run`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.process import impls, pagecache
from harness.process.protocol import make_job, read_result, write_job
from harness.process.runner import MAPPED_FILE, ProcessRecord, read_mapped, run_process
from harness.results import Phase, Rerun, Run, find, measured_runs
from harness.run.context import Context

KEEP_OUTPUT_BYTES = 1 << 20  # outputs larger than this are kept for the first measured run only


def trained_weights(ctx: Context, impl_id: str, index: int, repeat: int) -> Path:
    """The implementation's weights from its latest earlier train task: those of the train run
    of the same repeat when it succeeded (several trainings, each evaluated), else the first
    measured one's."""
    for earlier in range(index - 1, -1, -1):
        if ctx.config.tasks[earlier].name != "train":
            continue
        m = find(ctx.results, impl_id, earlier)
        same = [r for r in m.runs if r.repeat == repeat and r.ok]
        for run in same + measured_runs(m):
            path = ctx.run_dir / run.dir / "weights.safetensors"
            if path.is_file():
                return path
        break
    raise HarnessError(
        f"tasks[{index}]: weights: trained, but {impl_id} has no successful earlier train task"
    )


def run_one(
    ctx: Context,
    impl: impls.Implementation,
    index: int,
    repeat: int,
    warm: bool,
    inputs: dict[str, Path],
    label: str,
    *,
    threads: int | None = None,
    job_dir: Path | None = None,
) -> Run:
    """Run one job and return its `Run`; `threads` and `job_dir` replace the config's thread
    count and the job's folder (the baseline's rerun for the curves check: rerun_baseline)."""
    config = ctx.config
    task = config.tasks[index]
    threads = threads or config.threads
    weights = inputs.get("weights")
    if task.weights == "trained":
        weights = trained_weights(ctx, impl.id, index, repeat)
    job_dir = job_dir or ctx.run_dir / "jobs" / f"t{index:02d}-{task.name}-{impl.id}-r{repeat:02d}"
    shutil.rmtree(job_dir, ignore_errors=True)  # a job cut off before a resume starts afresh
    job_dir.mkdir(parents=True)
    seed = config.seed + repeat if task.vary_seed else config.seed
    job = make_job(
        task=task.name,
        seed=seed,
        threads=threads,
        out_dir=job_dir,
        root=ctx.root,
        eval_root=task.eval_root or ctx.eval_root,
        params=task.params,
        pairs=inputs.get("pairs"),
        weights=weights,
        onnx=inputs.get("onnx") if impl.model_file == "onnx" else None,
        model=impls.job_model(impl, config.model),
        optimizer=config.optimizer,
        augment=config.augment,
        device=config.device,
    )
    write_job(job_dir / "job.json", job)
    cold = evict_files(ctx, impl.id, inputs) if task.page_cache == "evict" else {}
    on_event: Callable[[Any], None] = ctx.display.start_job(label)
    record = run_process(
        impl.command(job_dir / "job.json"),
        cwd=impl.folder,
        env=impls.job_env(threads),
        log_dir=job_dir,
        timeout_s=config.timeout_s,
        interval_s=config.sample_interval_ms / 1000,
        on_event=on_event,
        memory_limit_bytes=config.memory_limit_mb << 20 if config.memory_limit_mb else None,
    )
    ok, error, metrics, outputs = job_outcome(record, job_dir)
    run = Run(
        repeat=repeat,
        warmup=warm,
        dir=str(job_dir.relative_to(ctx.run_dir)),
        wall_s=record.wall_s,
        user_s=record.user_s,
        sys_s=record.sys_s,
        peak_rss_bytes=record.peak_rss_bytes,
        sampled_peak_rss_bytes=max((s.rss_bytes for s in record.samples), default=0),
        startup_s=record.startup_s,
        exit_code=record.exit_code,
        signal=record.signal,
        timed_out=record.timed_out,
        out_of_memory=record.out_of_memory_bytes is not None,
        phases=[Phase.model_validate(p) for p in phases(record)],
        ok=ok,
        error=error,
        metrics=metrics,
        outputs=outputs,
    )
    if task.vary_seed:
        run = run.model_copy(update={"seed": seed})
    if cold:
        run = run.model_copy(update=cold)
    ctx.display.end_job(label, run)
    if (not first_measured_ok(ctx, impl.id, index) or warm) and not (
        task.name == "train" and any(t.weights == "trained" for t in config.tasks[index:])
    ):  # a train run's weights stay while a later task evaluates each training's own
        prune_outputs(job_dir, run.outputs)
    return run


def evict_files(ctx: Context, impl_id: str, inputs: dict[str, Path]) -> dict[str, int]:
    """Drop from the page cache the files `impl_id` mapped in its earlier runs of this run
    (their `mapped.tsv`) and the job's inputs (process/pagecache.py): the evicted bytes and
    those that stayed cached."""
    files = set(inputs.values())
    for m in ctx.results.measurements:
        if m.impl == impl_id:
            for r in m.runs:
                files |= {Path(p) for p in read_mapped(ctx.run_dir / r.dir / MAPPED_FILE)}
    evicted = pagecache.evict(sorted(files))
    return {"evicted_bytes": evicted, "resident_bytes": pagecache.resident_bytes(sorted(files))}


def rerun_baseline(ctx: Context, input_files: dict[int, dict[str, Path]]) -> list[Rerun]:
    """The baseline's own spread for the `curves` check: every `step` task compared between
    implementations is run once more by the baseline with another thread count (1, or 2 when
    the run uses 1), after every measured job; the runs are kept in `results.reruns`, never in
    a measurement."""
    config = ctx.config
    out: list[Rerun] = []
    if len(ctx.chosen) < 2:
        return out
    baseline = ctx.chosen[0]
    for index, task in enumerate(config.tasks):
        if task.name != "step" or task.weights == "trained":
            continue
        if not measured_runs(find(ctx.results, baseline.id, index)):
            continue
        threads = 1 if config.threads > 1 else 2
        label = f"rerun {task.name} {baseline.id} at {threads} thread(s) for the curves check"
        job_dir = ctx.run_dir / "reruns" / f"t{index:02d}-{task.name}-{baseline.id}-x{threads}"
        run = run_one(ctx, baseline, index, config.warmup, False, input_files[index], label,
                      threads=threads, job_dir=job_dir)  # fmt: skip
        given = {k: getattr(run, k) for k in run.model_fields_set}
        out.append(Rerun(task_index=index, impl=baseline.id, threads=threads, **given))
    return out


def job_outcome(
    record: ProcessRecord, job_dir: Path
) -> tuple[bool, str | None, dict[str, Any], dict[str, str]]:
    """(ok, error, metrics, outputs) of a finished job: its result.json, or why there is none."""
    if record.ok and record.bad_event_lines:
        return (
            False,
            f"{record.bad_event_lines} malformed event line(s) on stdout, expected one JSON "
            f"object per line (first: {record.first_bad_event_line!r})",
            {},
            {},
        )
    if not record.ok:
        return False, describe_failure(record), {}, {}
    try:
        result = read_result(job_dir / "result.json")
    except HarnessError as e:
        return False, str(e), {}, {}
    return bool(result["ok"]), result["error"], result["metrics"], result["outputs"]


def first_measured_ok(ctx: Context, impl_id: str, index: int) -> bool:
    """True while no earlier measured run of this (impl, task) kept its outputs."""
    return not measured_runs(find(ctx.results, impl_id, index))


def prune_outputs(job_dir: Path, outputs: dict[str, str]) -> None:
    for name in outputs.values():
        path = job_dir / name
        if path.is_file() and path.stat().st_size > KEEP_OUTPUT_BYTES:
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def describe_failure(record: ProcessRecord) -> str:
    if record.out_of_memory_bytes is not None:
        why = (
            f"out of memory: RSS {record.out_of_memory_bytes / 2**20:.0f} MiB exceeded the cap; "
            "process group killed"
        )
    elif record.timed_out:
        why = f"timed out after {record.wall_s:.1f} s; process group killed"
    elif record.signal is not None:
        why = f"killed by signal {record.signal}"
    else:
        why = f"exit code {record.exit_code}"
    last = record.stderr_tail.strip().splitlines()[-1:] if record.stderr_tail.strip() else []
    return why + (f": {last[0]}" if last else "")


def phases(record: ProcessRecord) -> list[dict[str, Any]]:
    """Phase intervals announced by the implementation, on the harness's clock."""
    open_at: dict[str, float] = {}
    out = []
    for event in record.events:
        if event.kind != "phase":
            continue
        name, state = str(event.data.get("name")), event.data.get("state")
        if state == "begin":
            open_at[name] = event.t_harness_s
        elif state == "end" and name in open_at:
            out.append({"name": name, "begin_s": open_at.pop(name), "end_s": event.t_harness_s})
    return out
