"""The task registry (harness/process/tasks.py) against the job schema and its derived tables.

The job schema is the contract with the implementations and `TASKS` is the harness's view of
the same tasks; `mismatches` names every way the two disagree: a task in one and not the other,
its required parameters, its path parameters (the string parameters that are not enums) and
whether it requires the job's `model`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.analysis import checks, crossover, roofline
from harness.process import protocol
from harness.process.tasks import TASKS, ParamIs, TaskSpec


def _blocks(job_schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["if"]["properties"]["task"]["const"]: b["then"] for b in job_schema["allOf"]}


def _path_params(params: Mapping[str, Any]) -> set[str]:
    out = set()
    for key, prop in params.get("properties", {}).items():
        types = prop.get("type", [])
        if "string" in ([types] if isinstance(types, str) else types) and "enum" not in prop:
            out.add(key)
    return out


def mismatches(job_schema: Mapping[str, Any], tasks: Mapping[str, TaskSpec]) -> list[str]:
    """Every disagreement between the job schema's tasks and the registry, one line each."""
    found = []
    enum = job_schema["properties"]["task"]["enum"]
    if enum != list(tasks):
        found.append(f"task enum {enum} != registry {list(tasks)} (names and order)")
    blocks = _blocks(job_schema)
    for name in sorted(set(enum) | set(tasks) | set(blocks)):
        if name not in blocks or name not in tasks:
            where = "registry" if name not in tasks else "schema's allOf"
            found.append(f"{name}: missing from the {where}")
            continue
        spec, then = tasks[name], blocks[name]
        params = then["properties"]["params"]
        if sorted(params.get("required", [])) != sorted(spec.required_params):
            found.append(f"{name}: required params {params.get('required', [])} in the schema")
        if _path_params(params) != set(spec.path_params):
            found.append(f"{name}: path params {sorted(_path_params(params))} in the schema")
        if ("model" in then.get("required", [])) != (spec.network is True):
            found.append(f"{name}: the schema's `model` requirement vs network={spec.network}")
    return found


def test_job_schema_matches_the_task_registry() -> None:
    assert mismatches(protocol.schema("job"), TASKS) == []
    assert protocol.known_tasks() == list(TASKS)


def test_a_task_added_to_one_side_only_is_named() -> None:
    job = protocol.schema("job")
    extra = {**TASKS, "embed": TaskSpec("embed", None)}
    assert mismatches(job, extra) == [
        f"task enum {list(TASKS)} != registry {list(extra)} (names and order)",
        "embed: missing from the schema's allOf",
    ]
    grown = copy.deepcopy(job)
    grown["properties"]["task"]["enum"].append("embed")
    grown["allOf"].append(
        {
            "if": {"properties": {"task": {"const": "embed"}}},
            "then": {"properties": {"params": {"type": "object"}}},
        }
    )
    assert mismatches(grown, TASKS) == [
        f"task enum {[*TASKS, 'embed']} != registry {list(TASKS)} (names and order)",
        "embed: missing from the registry",
    ]


def test_required_path_and_model_differences_are_named() -> None:
    job = protocol.schema("job")
    changed = {
        **TASKS,
        "sample": dataclasses.replace(TASKS["sample"], required_params=()),
        "evaluate": dataclasses.replace(TASKS["evaluate"], path_params=()),
        "init": dataclasses.replace(TASKS["init"], network=False),
    }
    assert mismatches(job, changed) == [
        "evaluate: path params ['runs'] in the schema",
        "init: the schema's `model` requirement vs network=False",
        "sample: required params ['pairs'] in the schema",
    ]


def test_conditions_on_params() -> None:
    assert TASKS["evaluate"].uses_network({})
    assert TASKS["evaluate"].uses_network({"scorer": "siamese"})
    assert not TASKS["evaluate"].uses_network({"scorer": "mhd"})
    assert TASKS["load"].needs_pairs({"source": "pairs"})
    assert not TASKS["load"].needs_pairs({"source": "dataset"})
    assert not TASKS["sample"].needs_pairs({})
    assert TASKS["init"].uses_network({}) and not TASKS["init"].needs_weights
    assert ParamIs("k", "v", default="v").holds({}) and not ParamIs("k", "v").holds({})


def test_derived_tables_follow_the_registry() -> None:
    for name, spec in TASKS.items():
        assert protocol.uses_network(name, {}) == spec.uses_network({})
        assert (name in protocol.TASKS_NEEDING_PAIRS) == (spec.input_pairs is not None)
        tp = spec.throughput
        assert protocol.THROUGHPUT.get(name) == (None if tp is None else (tp.metric, tp.unit))
        assert [c for c, _ in checks.CHECKS.get(name, [])] == list(spec.checks)
        assert (name in roofline.COMPUTE_TASKS) == (spec.flops is not None)
        assert (name in crossover.TASKS) == spec.flop_per_pair
    assert not protocol.uses_network("no-such-task", {})
    used = {c for spec in TASKS.values() for c in spec.checks}
    assert used == set(checks.CHECK_FNS)
    assert set(checks.DEFAULT_TOLERANCES) == used - {"accuracy"}
