"""`harness run`: one experiment from a validated config to `results.json`.

Order of work: prepare the data set (the embedded synthetic set unless `dataset.root` is set),
build every implementation (timed separately, never counted in a task), prepare shared inputs
(one pair file per size, drawn once by the baseline implementation so every side gets identical
inputs), then run every task `warmup + repeats` times with the implementations interleaved
(A B A B ...), rewriting `results.json` atomically after every job so nothing finished is lost.
Checks between implementations and the summary table come last. An interrupted run leaves
`status: interrupted` and every finished job; `resume_experiment` runs only what is missing.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import compare, datasets, impls, machine, postrun
from harness.config import Config
from harness.display import Display
from harness.errors import HarnessError
from harness.protocol import (
    PROTOCOL_VERSION,
    REPO_ROOT,
    TASKS_NEEDING_PAIRS,
    make_job,
    read_result,
    uses_network,
    write_job,
)
from harness.results import (
    RESULTS_FORMAT_VERSION,
    Build,
    Dataset,
    Implementation,
    Machine,
    Measurement,
    Phase,
    Results,
    Run,
    measured_runs,
    summarize_runs,
)
from harness.results import load as load_results
from harness.results import save as save_results
from harness.runner import ProcessRecord, kill_children, run_process

KEEP_OUTPUT_BYTES = 1 << 20  # outputs larger than this are kept for the first measured run only


@dataclass
class Context:
    config: Config
    run_dir: Path
    root: Path
    eval_root: Path | None
    chosen: list[impls.Implementation]
    display: Display
    results: dict[str, Any]


def default_run_dir(config: Config) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return REPO_ROOT / "results" / f"{config.name}-{stamp}"


def run_experiment(
    config: Config,
    run_dir: Path,
    display: Display,
    available: dict[str, impls.Implementation] | None = None,
) -> dict[str, Any]:
    """Run everything the config asks for; return the results document (also on disk).

    `available` replaces the discovered implementations (tests use a fake one).
    """
    chosen = impls.select(config.implementations, available or impls.discover())
    impls.check_device(config.device, chosen)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise HarnessError(f"{run_dir}: output folder exists and is not empty; pass a new --out")
    root, eval_root, data_facts = datasets.prepare(config, display)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(dict(config.raw), sort_keys=False))
    results = Results(
        format_version=RESULTS_FORMAT_VERSION,
        protocol=PROTOCOL_VERSION,
        name=config.name,
        device=config.device,
        status="running",
        started_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        finished_utc=None,
        machine=Machine.model_validate(machine.machine_facts()),
        config=dict(config.raw),
        dataset=Dataset.model_validate(data_facts),
        implementations={},
        builds=[],
        measurements=[
            Measurement(
                impl=impl.id,
                task=task.name,
                task_index=index,
                params=dict(task.params),
                planned_runs=config.warmup + config.repeats,
                shared_inputs=task.weights != "trained",
                runs=[],
                summary=None,
            )
            for index, task in enumerate(config.tasks)
            for impl in chosen
        ],
        checks=[],
    ).dump()
    ctx = Context(config, run_dir, root, eval_root, chosen, display, results)
    save(ctx)
    return execute(ctx)


def resume_experiment(
    run_dir: Path, display: Display, available: dict[str, impls.Implementation] | None = None
) -> dict[str, Any]:
    """Run only the jobs an interrupted or crashed run did not finish, in the same folder."""
    from harness.config import load_config

    results_path = run_dir / "results.json"
    try:
        results = load_results(results_path).dump()
    except HarnessError as e:
        raise HarnessError(f"{results_path}: cannot resume: {e}") from None
    config = load_config(run_dir / "config.yaml")
    chosen = impls.select(config.implementations, available or impls.discover())
    impls.check_device(config.device, chosen)
    root, eval_root, data_facts = datasets.prepare(config, display)
    if data_facts["sha256"] != results["dataset"]["sha256"]:
        raise HarnessError(
            f"{run_dir}: the data set changed since the run started (sha256 differs); "
            "start a new run instead of resuming"
        )
    results["status"] = "running"
    ctx = Context(config, run_dir, root, eval_root, chosen, display, results)
    return execute(ctx)


def execute(ctx: Context) -> dict[str, Any]:
    """Build, prepare inputs and run every job not yet recorded; finish with the checks."""
    config, results = ctx.config, ctx.results
    try:
        build_all(ctx)
        input_files = prepare_inputs(ctx)
        total = len(config.tasks) * len(ctx.chosen) * (config.warmup + config.repeats)
        done = 0
        for index, task in enumerate(config.tasks):
            inputs = input_files[index]
            for repeat in range(config.warmup + config.repeats):
                for impl in ctx.chosen:
                    done += 1
                    measurement = find_measurement(results, impl.id, index)
                    if any(r["repeat"] == repeat for r in measurement["runs"]):
                        continue  # finished before a resume
                    warm = repeat < config.warmup
                    label = f"[{done}/{total}] {task.name} {impl.id} " + (
                        f"warmup {repeat + 1}" if warm else f"repeat {repeat - config.warmup + 1}"
                    )
                    run = run_one(ctx, impl, index, repeat, warm, inputs, label)
                    measurement["runs"].append(run)
                    summary = summarize_runs(task.name, measurement["runs"])
                    measurement["summary"] = summary and summary.dump()
                    save(ctx)
    except BaseException:
        kill_children()
        results["status"] = "interrupted"
        save(ctx)
        raise
    results["checks"] = compare.run_checks(results, ctx.run_dir, config.tolerances)
    postrun.analyse(results, config, ctx.run_dir, ctx.display)
    results["status"] = "complete"
    results["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save(ctx)
    postrun.write_outputs(results, ctx.run_dir, ctx.display)
    return results


def save(ctx: Context) -> None:
    save_results(ctx.run_dir / "results.json", ctx.results)


def find_measurement(results: dict[str, Any], impl_id: str, index: int) -> dict[str, Any]:
    for m in results["measurements"]:
        if m["impl"] == impl_id and m["task_index"] == index:
            return m  # type: ignore[no-any-return]
    raise KeyError((impl_id, index))


def build_all(ctx: Context) -> None:
    env = impls.job_env(ctx.config.threads)
    for impl in ctx.chosen:
        if impl.build is not None:
            ctx.display.line(f"building {impl.id} ...")
        record = impls.build(impl, ctx.run_dir / "build" / f"{impl.id}.log", env)
        build = Build(impl=record.impl, ok=record.ok, wall_s=record.wall_s, log=record.log)
        ctx.results["builds"].append(build.dump())
        save(ctx)
        if not record.ok:
            raise HarnessError(f"building {impl.id} failed; see {record.log}")
        ctx.results["implementations"][impl.id] = Implementation(
            language=impl.language, versions=impls.versions(impl, env)
        ).dump()
    save(ctx)


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
        needs_pairs = task.name in TASKS_NEEDING_PAIRS and not (
            task.name == "load" and task.params.get("source") == "dataset"
        )
        if needs_pairs:
            n = task.input_pairs or TASKS_NEEDING_PAIRS[task.name]
            inputs["pairs"] = make_input(
                ctx, f"pairs-{n}", "sample", {"pairs": n, "same_alphabet": 0.5}, "pairs.tsv"
            )
        if task.weights is None and task.name != "init" and uses_network(task.name, task.params):
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
        model=ctx.config.model if task == "init" else None,
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


def trained_weights(ctx: Context, impl_id: str, index: int) -> Path:
    for earlier in range(index - 1, -1, -1):
        if ctx.config.tasks[earlier].name != "train":
            continue
        m = find_measurement(ctx.results, impl_id, earlier)
        for run in measured_runs(m):
            path = ctx.run_dir / str(run["dir"]) / "weights.safetensors"
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
) -> dict[str, Any]:
    config = ctx.config
    task = config.tasks[index]
    weights = inputs.get("weights")
    if task.weights == "trained":
        weights = trained_weights(ctx, impl.id, index)
    job_dir = ctx.run_dir / "jobs" / f"t{index:02d}-{task.name}-{impl.id}-r{repeat:02d}"
    shutil.rmtree(job_dir, ignore_errors=True)  # a job cut off before a resume starts afresh
    job_dir.mkdir(parents=True)
    job = make_job(
        task=task.name,
        seed=config.seed,
        threads=config.threads,
        out_dir=job_dir,
        root=ctx.root,
        eval_root=task.eval_root or ctx.eval_root,
        params=task.params,
        pairs=inputs.get("pairs"),
        weights=weights,
        model=config.model,
        optimizer=config.optimizer,
        augment=config.augment,
        device=config.device,
    )
    write_job(job_dir / "job.json", job)
    on_event: Callable[[Any], None] = ctx.display.start_job(label)
    record = run_process(
        impl.command(job_dir / "job.json"),
        cwd=impl.folder,
        env=impls.job_env(config.threads),
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
    ).dump()
    ctx.display.end_job(label, run)
    if not first_measured_ok(ctx, impl.id, index) or warm:
        prune_outputs(job_dir, run["outputs"])
    return run


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
    return not measured_runs(find_measurement(ctx.results, impl_id, index))


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
