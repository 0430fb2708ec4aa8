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
from pathlib import Path
from typing import Any

import yaml

from harness.analysis import checks, machine
from harness.errors import HarnessError
from harness.process import impls
from harness.process.protocol import PROTOCOL_VERSION, REPO_ROOT
from harness.process.runner import kill_children
from harness.results import RESULTS_FORMAT_VERSION, Dataset, Machine, Measurement, Results, find
from harness.results import load as load_results
from harness.run import datasets, postrun
from harness.run.builds import build_all
from harness.run.config import Config
from harness.run.context import Context, require_new_folder, save
from harness.run.display import Display
from harness.run.inputs import prepare_inputs
from harness.run.job import rerun_baseline, run_one
from harness.run.summary import summarize_runs


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

    `available` replaces the discovered implementations (tests use a fake one). The document
    is returned as its JSON dict, as written; the run holds it typed (`Context.results`).
    """
    if config.sweep:
        raise HarnessError("this config has a sweep: run it with harness.run.sweep.run_sweep")
    chosen = impls.select(config.implementations, available or impls.discover())
    chosen = impls.conv_runners(config.model, chosen, config.conv_skip_direct)
    impls.check_device(config.device, chosen)
    if note := impls.conv_note(config.model, chosen):
        display.line(note)
    if note := impls.tasks_note([t.name for t in config.tasks], chosen):
        display.line(note)
    require_new_folder(run_dir)
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
            if impl.implements(task.name)  # the others: "not implemented", no measurement
        ],
        checks=[],
    )
    ctx = Context(config, run_dir, root, eval_root, chosen, display, results)
    save(ctx)
    return execute(ctx)


def resume_experiment(
    run_dir: Path, display: Display, available: dict[str, impls.Implementation] | None = None
) -> dict[str, Any]:
    """Run only the jobs an interrupted or crashed run did not finish, in the same folder."""
    from harness.run.config import load_config

    results_path = run_dir / "results.json"
    try:
        results = load_results(results_path)
    except HarnessError as e:
        raise HarnessError(f"{results_path}: cannot resume: {e}") from None
    config = load_config(run_dir / "config.yaml")
    chosen = impls.select(config.implementations, available or impls.discover())
    chosen = impls.conv_runners(config.model, chosen, config.conv_skip_direct)
    impls.check_device(config.device, chosen)
    impls.tasks_note([t.name for t in config.tasks], chosen)
    root, eval_root, data_facts = datasets.prepare(config, display)
    if data_facts["sha256"] != results.dataset.sha256:
        raise HarnessError(
            f"{run_dir}: the data set changed since the run started (sha256 differs); "
            "start a new run instead of resuming"
        )
    results = results.model_copy(update={"status": "running"})
    ctx = Context(config, run_dir, root, eval_root, chosen, display, results)
    return execute(ctx)


def execute(ctx: Context) -> dict[str, Any]:
    """Build, prepare inputs and run every job not yet recorded; finish with the checks."""
    config = ctx.config
    try:
        build_all(ctx)
        input_files = prepare_inputs(ctx)
        runners = [[i for i in ctx.chosen if i.implements(t.name)] for t in config.tasks]
        total = sum(map(len, runners)) * (config.warmup + config.repeats)
        done = 0
        for index, task in enumerate(config.tasks):
            inputs = input_files[index]
            for repeat in range(config.warmup + config.repeats):
                for impl in runners[index]:
                    done += 1
                    measurement = find(ctx.results, impl.id, index)
                    if any(r.repeat == repeat for r in measurement.runs):
                        continue  # finished before a resume
                    warm = repeat < config.warmup
                    label = f"[{done}/{total}] {task.name} {impl.id} " + (
                        f"warmup {repeat + 1}" if warm else f"repeat {repeat - config.warmup + 1}"
                    )
                    run = run_one(ctx, impl, index, repeat, warm, inputs, label)
                    runs = [*measurement.runs, run]
                    measurement = measurement.with_run(run, summarize_runs(task.name, runs))
                    ctx.results = ctx.results.with_measurement(measurement)
                    save(ctx)
        if ctx.results.reruns is None:
            reruns = rerun_baseline(ctx, input_files)
            ctx.results = ctx.results.model_copy(update={"reruns": reruns})
            save(ctx)
    except BaseException:
        kill_children()
        ctx.results = ctx.results.model_copy(update={"status": "interrupted"})
        save(ctx)
        raise
    found = checks.run_checks(ctx.results, ctx.run_dir, config.tolerances)
    checked = ctx.results.model_copy(update={"checks": found})
    results = postrun.analyse(checked, config, ctx.run_dir, ctx.display)
    ctx.results = results.model_copy(
        update={
            "status": "complete",
            "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    save(ctx)
    postrun.write_outputs(ctx.results, ctx.run_dir, ctx.display)
    return ctx.results.dump()
