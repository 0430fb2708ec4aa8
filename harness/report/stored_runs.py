"""Stored runs: read a run folder's results.json, and `python -m harness list` of results/.

A run folder is any folder holding a `results.json` written by `harness run`. `load_results`
rejects a format version it does not know; `list_runs` finds the runs under a folder (default
`results/`) and `format_list` prints one line per run, newest first: when it started, its name,
its jobs and checks, whether it finished, and its folder. A sweep is one line (its points'
folders are not listed apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import results as results_doc
from harness.errors import HarnessError
from harness.process.protocol import REPO_ROOT
from harness.results import Results

RESULTS_ROOT = REPO_ROOT / "results"


def load_results(run_dir: Path) -> Results:
    """results.json of a run folder, checked to be a results document this harness knows."""
    path = run_dir / "results.json"
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run folder; expected a folder from `harness run`")
    if not path.is_file():
        raise HarnessError(f"{run_dir}: no results.json; expected a folder from `harness run`")
    return results_doc.load(path)


def list_runs(root: Path = RESULTS_ROOT) -> list[tuple[Path, Results | None, str]]:
    """(folder, results or None, problem) for every folder under `root` with a results.json."""
    if not root.is_dir():
        raise HarnessError(f"{root}: no such folder; expected the results folder of `harness run`")
    out: list[tuple[Path, Results | None, str]] = []
    for path in sorted(root.rglob("results.json")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.parent.parent.name == "points" and (path.parents[2] / "results.json").is_file():
            continue  # a sweep's point: listed as part of its sweep
        try:
            out.append((path.parent, load_results(path.parent), ""))
        except HarnessError as e:
            out.append((path.parent, None, str(e)))
    out.sort(key=lambda item: (item[1].started_utc if item[1] else None) or "", reverse=True)
    return out


@dataclass(frozen=True)
class RunLine:
    """One run's line of `harness list`, as its cells."""

    started: str
    name: str
    state: str
    jobs: str
    checks: str
    impls: str
    tasks: str

    def cells(self) -> list[str]:
        return [self.started, self.name, self.state, self.jobs, self.checks, self.impls, self.tasks]


def describe(results: Results) -> RunLine:
    runs = [r for m in results.measurements for r in m.runs]
    failed = sum(1 for r in runs if not r.ok)
    checks = results.checks
    ok_checks = sum(1 for c in checks if c.ok)
    impls = sorted({m.impl for m in results.measurements})
    tasks = sorted({m.task for m in results.measurements})
    return RunLine(
        started=results.started_utc or "?",
        name=(results.name or "?")
        + (f" (sweep of {len(results.sweep.points)} points)" if results.sweep else ""),
        state="finished" if results.finished_utc else "incomplete",
        jobs=f"{len(runs) - failed}/{len(runs)} ok",
        checks=f"{ok_checks}/{len(checks)} ok",
        impls=",".join(impls),
        tasks=",".join(tasks),
    )


def format_list(root: Path = RESULTS_ROOT) -> str:
    rows = list_runs(root)
    if not rows:
        return f"no runs under {root} (a run folder holds a results.json)"
    header = ["started (UTC)", "name", "state", "jobs", "checks", "impls", "tasks", "folder"]
    table = [header]
    for folder, results, problem in rows:
        try:
            where = str(folder.relative_to(Path.cwd()))
        except ValueError:
            where = str(folder)
        if results is None:
            table.append(["?", "?", f"unreadable: {problem}", "", "", "", "", where])
            continue
        table.append([*describe(results).cells(), where])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    )
