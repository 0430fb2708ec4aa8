"""The `gate` verb of the command line (harness/cli.py): its parsers and its dispatch.

    python -m harness gate ratios|memory RUN_DIR [--update] [--factor 1.1] [--reference PATH]
    python -m harness gate ratios|memory RUN_DIR... --aa
    python -m harness gate calibrate RUN_DIR... [--gate ratios|memory] [--factors 1.1,1.5]
    python -m harness gate instructions [--update] [--impls rust-native] [--tolerance 2%]

What each gate checks and how its factors were chosen: docs/reports.md, "Gates".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_gate_parsers(gates: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from harness.gate.ratios import GATES

    for gate in GATES.values():
        figure = "throughput" if gate.higher_is_better else "peak-RSS"
        rat = gates.add_parser(
            gate.verb,
            help=f"same-run {figure} ratios of a bench-ci run against "
            f"results/reference/{gate.reference_path.name}",
        )
        rat.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
        rat.add_argument("--reference", type=Path, help=f"default {gate.reference_path.name}")
        rat.add_argument(
            "--factor",
            type=float,
            help=f"trip beyond this factor (default {gate.default_factor} against a reference "
            f"of the same kind of CPU, {gate.other_cpu_factor} of another)",
        )
        rat.add_argument(
            "--update", action="store_true", help="write RUN_DIR's ratios as reference"
        )
        rat.add_argument(
            "--aa", action="store_true", help="A/A spread of unchanged runs: every pair of RUN_DIRs"
        )
    cal = gates.add_parser(
        "calibrate",
        help="false-alarm and detection rates of a same-run gate over unchanged bench-ci runs",
    )
    cal.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    cal.add_argument(
        "--gate", dest="which", choices=sorted(GATES), default="ratios", help="default ratios"
    )
    cal.add_argument("--factors", help="comma-separated factors to try (default the gate's)")
    cal.add_argument(
        "--worse-by",
        default="1.05,1.1,1.25,1.3,1.5",
        help="comma-separated slowdowns (or bloats) applied to each implementation in turn",
    )
    ins = gates.add_parser(
        "instructions",
        help="callgrind instruction counts of the Rust binaries against "
        "results/reference/instructions.json",
    )
    ins.add_argument("--reference", type=Path, help="default results/reference/instructions.json")
    ins.add_argument("--impls", help="comma-separated ids (default rust-native)")
    ins.add_argument("--tolerance", help="trip when a count rises by more (default 2%%)")
    ins.add_argument("--repeats", type=int, default=1, help="runs of each job (their spread)")
    ins.add_argument("--update", action="store_true", help="write the counts as reference")
    ins.add_argument("--work", type=Path, help="keep the jobs and callgrind files here")


def _floats(text: str | None, flag: str) -> list[float]:
    """`1.1,1.25` as floats; a bad list ends the program with one line (exit 2)."""
    if not text:
        return []
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(x <= 1.0 for x in out):
        print(f"error: {flag} {text!r}: expected factors above 1, e.g. 1.1,1.25", file=sys.stderr)
        raise SystemExit(2)
    return out


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.gate import calibrate, ratios

    if args.gate == "calibrate":
        gate = ratios.GATES[args.which]
        return calibrate.main_calibrate(
            args.run_dirs,
            gate,
            _floats(args.factors, "--factors") or [gate.default_factor],
            _floats(args.worse_by, "--worse-by"),
        )
    if args.gate in ratios.GATES:
        gate = ratios.GATES[args.gate]
        if args.aa:
            return calibrate.main_aa(args.run_dirs, gate)
        if len(args.run_dirs) != 1:
            print(f"error: gate {gate.verb}: one RUN_DIR (several only with --aa)", file=sys.stderr)
            return 2
        return ratios.main(
            args.run_dirs[0],
            args.reference or gate.reference_path,
            args.factor,
            args.update,
            gate,
        )
    from harness.gate import instructions

    return instructions.main(
        args.impls.split(",") if args.impls else list(instructions.DEFAULT_IMPLS),
        args.reference or instructions.REFERENCE_PATH,
        args.tolerance,
        args.update,
        max(1, args.repeats),
        args.work,
    )
