"""Every numeric bound of the job schema's task params, fed to every implementation.

The job schema (docs/schemas/job.schema.json) is the one source of the parameters' bounds. For
each bound of each task's params (`batch >= 1`, `ways <= 1000`, ...) this runs every
implementation that the harness discovers (impls/*/impl.yaml) on a job holding the bound itself
and on one holding one step past it (1 for an integer, a thousandth for a number), and checks
that each accepts the first and refuses the second, as the schema does.

One process per implementation answers every case: its `check JOB...` verb (docs/protocol.md)
validates each job exactly as `run` does before its `start` event and prints one JSON line per
job (refused: exit code 2 and an error naming the key). So that `check` cannot drift from
`run`, every implementation also runs, for real, one accepted and one refused case of every
task: accepted means the program printed its `start` event (the program is then stopped),
refused means exit code 2 with an error line naming the key, and both must match `check`'s
answer. An implementation whose program is not built is skipped. The inputs named in the job do
not exist, so a program that is not stopped in time fails fast anyway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.process.impls import Implementation, discover, job_env
from harness.process.protocol import schema

pytestmark = pytest.mark.slow

MODEL = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}
BASE_PARAMS = {"sample": {"pairs": 10}, "load": {"source": "pairs"}}

# Bounds an implementation does not check yet: (task, key, value). Strict: the test fails once
# they are checked, so that the entry is removed. None today.
RUST_GAPS: set[tuple[str, str, int]] = set()


def numeric_props(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, prop in node.get("properties", {}).items():
        kinds = prop.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "object" in kinds:
            yield from numeric_props(prop, f"{prefix}{key}.")
        elif "integer" in kinds or "number" in kinds:
            yield f"{prefix}{key}", prop


def edge_cases() -> Iterator[tuple[str, str, float, bool]]:
    """(task, dotted key, value, accepted by the schema) at and one past each bound."""
    for branch in schema("job")["allOf"]:
        task = branch["if"]["properties"]["task"]["const"]
        for key, prop in numeric_props(branch["then"]["properties"]["params"]):
            kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            for bound, sign in (("minimum", -1), ("maximum", 1)):
                if bound not in prop:
                    continue
                edge = prop[bound]
                step = 1 if "integer" in kinds else 1e-3 * max(1.0, abs(edge))
                yield task, key, edge, True
                yield task, key, edge + sign * step, False


def job_with(task: str, key: str, value: float, out_dir: Path) -> dict[str, Any]:
    params: dict[str, Any] = dict(BASE_PARAMS.get(task, {}))
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    missing = out_dir / "missing"
    return {
        "format_version": 1,
        "task": task,
        "seed": 1,
        "threads": 1,
        "out_dir": str(out_dir),
        "dataset": {"root": str(missing / "root"), "eval_root": str(missing / "eval")},
        "inputs": {"pairs": str(missing / "pairs.tsv"), "weights": str(missing / "w.safetensors")},
        "model": None if task in ("sample", "load", "augment") else MODEL,
        "params": params,
    }


def built(impl: Implementation, job: Path) -> bool:
    program = impl.command(job)[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else impl.folder / program
        return path.is_file()
    return shutil.which(program) is not None


def run_verdict(impl: Implementation, job: Path, key: str) -> bool:
    """True: the job was accepted (a `start` event); False: refused naming `key` (exit 2)."""
    proc = subprocess.Popen(
        impl.command(job),
        cwd=impl.folder,
        env=job_env(1),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event") == "start":
                return True
        stderr = proc.stderr.read()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=120)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert code == 2, f"{impl.id}: exit {code} without a start event: {stderr.strip()}"
    name = key.split(".")[-1]
    assert name in stderr, f"{impl.id}: refused for another reason than {key}: {stderr.strip()}"
    return False


IMPLS = discover()


def case_id(task: str, key: str, value: float) -> str:
    return f"{task}-{key}={value}"


Case = tuple[str, str, float, bool]
Answers = dict[str, dict[str, dict[str, Any]]]  # impl id -> case id -> `check`'s JSON line


def rust_gap(impl: Implementation, case: Case) -> list[pytest.MarkDecorator]:
    if impl.language == "rust" and case[:3] in RUST_GAPS:
        reason = "impls/rust: this bound is not checked (see RUST_GAPS)"
        return [pytest.mark.xfail(strict=True, reason=reason)]
    return []


CASES = [
    pytest.param(impl_id, case, id=f"{impl_id}-{case_id(*case[:3])}", marks=rust_gap(impl, case))
    for impl_id, impl in sorted(IMPLS.items())
    for case in edge_cases()
    if impl.implements(case[0])  # its manifest's tasks: (python-torch-plain: step, forward)
]


def first_of_each_task() -> list[Case]:
    """Per task, its first accepted and its first refused case: the ones `run` also answers."""
    seen: set[tuple[str, bool]] = set()
    out = []
    for case in edge_cases():
        if (case[0], case[3]) not in seen:
            seen.add((case[0], case[3]))
            out.append(case)
    return out


RUN_CASES = [
    pytest.param(impl_id, case, id=f"{impl_id}-{case_id(*case[:3])}", marks=rust_gap(impl, case))
    for impl_id, impl in sorted(IMPLS.items())
    for case in first_of_each_task()
    if impl.implements(case[0])
]


def write_case(folder: Path, task: str, key: str, value: float) -> Path:
    """The job file of one case in its own folder (which is also its existing `out_dir`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.json"
    path.write_text(json.dumps(job_with(task, key, value, folder)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Answers:
    """Every implementation's `check` answer to every case: impl id -> case id -> JSON line.
    One process per implementation; an implementation that is not built has no entry."""
    root = tmp_path_factory.mktemp("bounds")
    answers: Answers = {}
    for impl_id, impl in sorted(IMPLS.items()):
        paths = {
            case_id(task, key, value): write_case(root / impl_id / str(i), task, key, value)
            for i, (task, key, value, _) in enumerate(edge_cases())
            if impl.implements(task)
        }
        if not built(impl, next(iter(paths.values()))):
            continue
        proc = subprocess.run(
            impl.check_command(list(paths.values())),
            cwd=impl.folder,
            env=job_env(1),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"{impl_id} check: exit {proc.returncode}: {proc.stderr}"
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        by_path = {line["job"]: line for line in lines}
        assert len(lines) == len(paths), f"{impl_id} check: {len(lines)} lines for {len(paths)}"
        answers[impl_id] = {cid: by_path[str(path)] for cid, path in paths.items()}
    return answers


def test_the_cases_cover_every_bound_of_the_network_tasks() -> None:
    covered = {(task, key) for task, key, _, _ in edge_cases()}
    assert {("forward", "batch"), ("step", "warmup_steps"), ("train", "validation.ways")} <= covered
    assert {("evaluate", "ways"), ("train", "max_seconds")} <= covered


def schema_accepts(task: str, key: str, value: float, folder: Path) -> bool:
    job = job_with(task, key, value, folder)
    return jsonschema.Draft202012Validator(schema("job")).is_valid(job)


@pytest.mark.parametrize(("impl_id", "case"), CASES)
def test_every_implementation_accepts_a_bound_and_refuses_one_past_it(
    checked: Answers, tmp_path: Path, impl_id: str, case: Case
) -> None:
    task, key, value, accepted = case
    assert schema_accepts(task, key, value, tmp_path) == accepted, f"the schema: {key}={value}"
    if impl_id not in checked:
        pytest.skip(f"{impl_id}: {IMPLS[impl_id].run[0]} is not built")
    answer = checked[impl_id][case_id(task, key, value)]
    assert answer["accepted"] == accepted, (
        f"{impl_id} {'refused' if accepted else 'accepted'} {task} {key}={value}; "
        f"the job schema {'accepts' if accepted else 'refuses'} it: {answer}"
    )
    if not accepted:
        assert answer["exit_code"] == 2, answer
        name = key.split(".")[-1]
        assert name in answer["error"], f"{impl_id}: refused for another reason: {answer}"


@pytest.mark.parametrize(("impl_id", "case"), RUN_CASES)
def test_run_answers_as_check_does_on_one_accepted_and_one_refused_job_of_each_task(
    checked: Answers, tmp_path: Path, impl_id: str, case: Case
) -> None:
    task, key, value, accepted = case
    impl = IMPLS[impl_id]
    path = write_case(tmp_path, task, key, value)
    if not built(impl, path):
        pytest.skip(f"{impl_id}: {impl.command(path)[0]} is not built")
    said = run_verdict(impl, path, key)
    assert said == accepted, (
        f"{impl_id} run {'refused' if accepted else 'accepted'} {task} {key}={value}; "
        f"the job schema {'accepts' if accepted else 'refuses'} it"
    )
    assert checked[impl_id][case_id(task, key, value)]["accepted"] == said
