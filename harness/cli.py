"""Command line of the harness: argument parsing only; every verb calls into a module.

    python -m harness run CONFIG.yaml [--out DIR] [--set key=value ...]
    python -m harness run --resume RUN_DIR        (a run or a sweep)
    python -m harness run CONFIG.yaml --cluster HOST:PORT    (on a Ray cluster: docs/cluster.md)
    python -m harness run CONFIG.yaml --export pytest-benchmark
    python -m harness report RUN_DIR [--export pytest-benchmark]
    python -m harness diff BASE_DIR NEW_DIR [--threshold 5%] [--force] [--figures throughput]
                                            [--across-machines]
    python -m harness list [--root results]
    python -m harness archive RUN_DIR [--out results/archive] [--force]   (docs/reports.md)
    python -m harness publish [--archive results/archive] [--check] [--root DIR]
    python -m harness gate ratios RUN_DIR [--update] [--factor 1.1] [--reference PATH]
    python -m harness gate memory RUN_DIR [--update] [--factor 1.1] [--reference PATH]
    python -m harness gate ratios|memory RUN_DIR... --aa      (A/A spread of unchanged runs)
    python -m harness gate calibrate RUN_DIR... [--gate ratios|memory] [--factors 1.1,1.5]
    python -m harness gate instructions [--update] [--impls rust-native] [--tolerance 2%]
    python -m harness effort [IMPL ...] [--clean-build] [--json]
    python -m harness data synthetic --out DIR [--alphabets N --characters N --drawers N --seed S]
    python -m harness data omniglot --out DIR [--zip PATH ...]

User mistakes end as one line `error: <what to fix>` and exit code 1 (2 for usage errors);
a failed job makes `run` exit 1 after every other job has run. `diff` exits 1 on a significant
regression beyond the threshold and 2 when the runs cannot be compared.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from harness.errors import HarnessError

EXPORT_FORMATS = ("pytest-benchmark",)


def build_parser() -> argparse.ArgumentParser:
    from harness.gate.command import add_gate_parsers

    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Run and compare the oneshot-bench implementations.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add_run_parser(verbs)
    add_report_parser(verbs)
    add_diff_parser(verbs)
    gate = verbs.add_parser("gate", help="CI benchmark gates that can fail (docs/reports.md)")
    gates = gate.add_subparsers(dest="gate", required=True, metavar="GATE")
    add_gate_parsers(gates)
    runs = verbs.add_parser("list", help="list the stored runs")
    runs.add_argument("--root", type=Path, help="folder of runs (default results/)")
    add_effort_parser(verbs)
    add_data_parser(verbs)
    add_archive_parser(verbs)
    add_publish_parser(verbs)
    return parser


Verbs: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # one per verb below


def add_run_parser(verbs: Verbs) -> None:
    run = verbs.add_parser("run", help="run an experiment config")
    run.add_argument(
        "config", type=Path, nargs="?", help="YAML experiment, e.g. configs/quickstart.yaml"
    )
    run.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="finish an interrupted run in its folder"
    )
    run.add_argument("--out", type=Path, help="run folder (default results/<name>-<time>)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set repeats=5 --set tasks.0.sample.pairs=5000",
    )
    run.add_argument("--export", choices=EXPORT_FORMATS, help="also write results in this format")
    run.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Ray cluster's benchmark nodes, e.g. 10.0.0.1:6379 (docs/cluster.md)",
    )
    run.add_argument(
        "--per-node",
        action="store_true",
        help="with --cluster: run a config without a sweep once on every benchmark node",
    )
    run.add_argument(
        "--retries",
        type=int,
        default=1,
        metavar="N",
        help="with --cluster: rerun a task whose node or worker died up to N times (default 1)",
    )


def add_report_parser(verbs: Verbs) -> None:
    report = verbs.add_parser("report", help="write report.md and report.html of a run")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--export", choices=EXPORT_FORMATS, help="also write this format")


def add_diff_parser(verbs: Verbs) -> None:
    diff = verbs.add_parser("diff", help="compare two runs figure by figure, with a verdict")
    diff.add_argument("base", type=Path, metavar="BASE_DIR")
    diff.add_argument("new", type=Path, metavar="NEW_DIR")
    diff.add_argument(
        "--threshold", default="5%", help="fail when a figure is significantly worse by more"
    )
    diff.add_argument("--force", action="store_true", help="compare runs of different configs")
    diff.add_argument(
        "--across-machines",
        action="store_true",
        help="compare figures from different CPU models: a machine comparison, never a regression",
    )
    diff.add_argument(
        "--figures",
        metavar="NAMES",
        help="only these figures, comma-separated: throughput, gflop_per_s, wall_s, cpu_s, "
        "peak_rss_bytes (default all)",
    )
    diff.add_argument(
        "--skip-missing-base",
        action="store_true",
        help="exit 0 with a note when BASE_DIR has no results.json (CI before a reference exists)",
    )


def add_effort_parser(verbs: Verbs) -> None:
    effort = verbs.add_parser(
        "effort", help="what each implementation costs to write and ship (LOC, dependencies)"
    )
    effort.add_argument("impls", nargs="*", metavar="IMPL", help="ids (default: every one)")
    effort.add_argument(
        "--clean-build", action="store_true", help="also time a release build from clean (slow)"
    )
    effort.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_data_parser(verbs: Verbs) -> None:
    data = verbs.add_parser("data", help="write or fetch a data set")
    kinds = data.add_subparsers(dest="kind", required=True, metavar="KIND")
    syn = kinds.add_parser("synthetic", help="write the deterministic synthetic data set")
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--alphabets", type=int, default=5)
    syn.add_argument("--characters", type=int, default=10)
    syn.add_argument("--drawers", type=int, default=20)
    syn.add_argument("--seed", type=int, default=0)
    omni = kinds.add_parser("omniglot", help="download (or take local zips of) Omniglot")
    omni.add_argument("--out", type=Path, required=True)
    omni.add_argument(
        "--zip",
        dest="zips",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a local zip (repeatable), e.g. ../shared/omniglot/images_background.zip",
    )


def add_archive_parser(verbs: Verbs) -> None:
    archive = verbs.add_parser(
        "archive", help="write a run's compact record into the results archive (docs/reports.md)"
    )
    archive.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    archive.add_argument(
        "--out", type=Path, default=None, help="the archive folder (default results/archive)"
    )
    archive.add_argument("--force", action="store_true", help="replace an archived record")


def add_publish_parser(verbs: Verbs) -> None:
    publish = verbs.add_parser(
        "publish",
        help="the README's answer, docs/results.md's answer by CPU and site/ from the archive",
    )
    publish.add_argument(
        "--archive", type=Path, default=None, help="the archive folder (default results/archive)"
    )
    publish.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )
    publish.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the checkout holding README.md and docs/ (default: this one)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "run":
            return cmd_run(args)
        if args.verb == "data":
            return cmd_data(args)
        if args.verb == "report":
            return cmd_report(args)
        if args.verb == "diff":
            return cmd_diff(args)
        if args.verb == "list":
            return cmd_list(args)
        if args.verb == "effort":
            return cmd_effort(args)
        if args.verb == "archive":
            from harness.archive.write import cmd_archive

            return cmd_archive(args)
        if args.verb == "publish":
            from harness.publish.command import cmd_publish

            return cmd_publish(args)
        if args.verb == "gate":
            from harness.gate.command import cmd_gate

            return cmd_gate(args)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "error: interrupted; results.json keeps every finished job "
            "(finish it with `python -m harness run --resume RUN_DIR`)",
            file=sys.stderr,
        )
        return 130
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from harness.results import parse as parse_results
    from harness.run.config import load_config
    from harness.run.display import Display
    from harness.run.experiment import default_run_dir, resume_experiment, run_experiment
    from harness.run.sweep import is_sweep_dir, resume_sweep, run_sweep

    # SIGTERM ends a run like Ctrl-C: the running job's process group is killed and
    # results.json keeps every finished job, marked `status: interrupted`.
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.default_int_handler(signum, frame))
    display = Display()
    if args.resume is not None:
        if args.config is not None or args.overrides or args.out is not None:
            raise HarnessError(
                "--resume RUN_DIR takes no config, --set or --out: it reuses the run's"
            )
        run_dir = args.resume.resolve()
        if args.cluster:
            from harness.cluster.driver import resume_on_cluster

            results = resume_on_cluster(run_dir, display, args.cluster, args.retries)
        elif is_sweep_dir(run_dir):
            results = resume_sweep(run_dir, display)
        else:
            results = resume_experiment(run_dir, display)
    else:
        if args.config is None:
            raise HarnessError("run: expected a config file (or --resume RUN_DIR)")
        config = load_config(args.config, args.overrides)
        run_dir = (args.out or default_run_dir(config)).resolve()
        if args.cluster:
            from harness.cluster.driver import run_on_cluster

            results = run_on_cluster(
                config, run_dir, display, args.cluster, args.retries, args.per_node
            )
        elif args.per_node:
            raise HarnessError("--per-node runs on a cluster: give --cluster ADDRESS")
        elif config.sweep:
            results = run_sweep(config, run_dir, display)
        else:
            results = run_experiment(config, run_dir, display)
    if "measurements" not in results:  # a --per-node run: its index of node folders
        return per_node_outcome(results, run_dir, args.cluster)
    display.summary(results)
    print(f"results: {run_dir / 'results.json'}")
    if args.export:
        from harness.export import write_export

        print(f"export: {write_export(args.export, results, run_dir)}")
    doc = parse_results(results)

    def where(point: int | None) -> str:
        return "" if point is None else f" (point {point})"

    failed = [
        f"{m.task}/{m.impl}{where(m.point)}"
        for m in doc.measurements
        if any(not r.ok for r in m.runs)
    ]
    bad_checks = [f"{c.name}{where(c.point)}" for c in doc.checks if not c.ok]
    lost = [p for p in (doc.sweep.points if doc.sweep else []) if p.status != "complete"]
    for p in lost:
        print(f"error: sweep point {p.index} {p.status}: {p.reason or 'not run'}", file=sys.stderr)
    if lost:
        resume = f" --cluster {args.cluster}" if args.cluster else ""
        print(
            f"error: run the rest with: python -m harness run --resume {run_dir}{resume}",
            file=sys.stderr,
        )
    if failed:
        print(f"error: failed jobs: {', '.join(failed)}", file=sys.stderr)
    if bad_checks:
        print(f"error: failed checks: {', '.join(bad_checks)}", file=sys.stderr)
    return 1 if failed or bad_checks or lost else 0


def per_node_outcome(index: dict[str, Any], run_dir: Path, address: str) -> int:
    """A --per-node run's lines: every node's results.json, and what did not complete."""
    bad = 0
    for e in index["nodes"]:
        where = run_dir / e["dir"] / "results.json"
        if e["status"] == "complete":
            print(f"results ({e['hostname']} {e['ip']}): {where}")
            continue
        bad += 1
        reason = e.get("reason") or "not run"
        print(
            f"error: node {e['hostname']} {e['node_id']} {e['status']}: {reason}", file=sys.stderr
        )
    if bad:
        print(
            f"error: run the rest with: python -m harness run --resume {run_dir} "
            f"--cluster {address}",
            file=sys.stderr,
        )
    return 1 if bad else 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.kind == "synthetic":
        from harness.data.synthetic import write_synthetic

        summary = write_synthetic(
            args.out,
            alphabets=args.alphabets,
            characters=args.characters,
            drawers=args.drawers,
            seed=args.seed,
        )
        print(summary)
        return 0
    from harness.data.omniglot import fetch_omniglot

    for path in fetch_omniglot(args.out, zips=args.zips):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report
    from harness.report.stored_runs import load_results

    results = load_results(args.run_dir)
    for path in write_report(args.run_dir, results):
        print(f"report: {path}")
    if args.export:
        from harness.export import write_export

        print(f"export: {write_export(args.export, results, args.run_dir)}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.report.diff import diff_runs, parse_figures, parse_threshold

    if args.skip_missing_base and not (args.base / "results.json").is_file():
        print(f"no base run at {args.base} (no results.json); nothing to diff")
        return 0
    try:
        threshold, figures = parse_threshold(args.threshold), parse_figures(args.figures)
        result = diff_runs(
            args.base, args.new, threshold, args.force, figures, args.across_machines
        )
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.markdown, end="")
    return result.exit_code


def cmd_list(args: argparse.Namespace) -> int:
    from harness.report.stored_runs import RESULTS_ROOT, format_list

    print(format_list(args.root or RESULTS_ROOT))
    return 0


def cmd_effort(args: argparse.Namespace) -> int:
    from harness.analysis.effort import effort_table, measure
    from harness.process.impls import discover, select

    available = discover()
    chosen = select(args.impls, available) if args.impls else list(available.values())
    rows = [measure(impl, impl.effort, args.clean_build) for impl in chosen if impl.effort]
    if args.json:
        print(json.dumps([r.dump() for r in rows], indent=2))
        return 0
    table = effort_table(rows)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return 0
