"""params.py against the job schema: the schema is the one source of the bounds; the dataclasses
name exactly the schema's fields, with its choices, and their defaults lie within its bounds."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

import pytest
from oneshot_common.job import Job
from oneshot_common.params import _NODES, PARAMS, field_meta, job_schema, node_of

CLASSES = sorted(_NODES, key=lambda c: c.__name__)


def test_every_task_of_the_schema_has_its_params_dataclass() -> None:
    assert sorted(PARAMS) == sorted(job_schema()["properties"]["task"]["enum"])
    assert Job in _NODES


def test_the_task_table_names_the_tasks_of_params() -> None:
    """One task list: oneshot_common.tasks's table is PARAMS's tasks, and each framework's
    table is that table in its own package."""
    from oneshot_common.tasks import task_table
    from oneshot_jax.tasks import TASKS as JAX_TASKS
    from oneshot_torch.tasks import TASKS as TORCH_TASKS

    assert sorted(task_table("pkg")) == sorted(PARAMS)
    assert task_table("oneshot_torch") == TORCH_TASKS
    assert task_table("oneshot_jax") == JAX_TASKS
    assert TORCH_TASKS["step"] == "oneshot_torch.nettasks:run_step"
    assert JAX_TASKS["train"] == "oneshot_jax.train:run_train"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_fields_and_choices_are_the_schemas(cls: type) -> None:
    node = node_of(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert sorted(fields) == sorted(node.get("properties", {}))
    hints = typing.get_type_hints(cls)
    for name, spec in fields.items():
        prop = node["properties"][name]
        literals = [
            h
            for h in (hints[name], *typing.get_args(hints[name]))
            if typing.get_origin(h) is Literal
        ]
        if literals:
            assert list(typing.get_args(literals[0])) == prop["enum"], name
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if cls is not Job:
            assert required == (name in node.get("required", [])), name


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_lie_within_the_schemas_bounds(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        if spec.default is dataclasses.MISSING or spec.default is None:
            continue
        is_float = hints[spec.name] is float or float in typing.get_args(hints[spec.name])
        meta = field_meta(cls, spec.name, is_float)
        values: Any = spec.default if isinstance(spec.default, tuple) else (spec.default,)
        for value in values:
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert meta["minimum"] is None or value >= meta["minimum"], spec.name
                assert meta["maximum"] is None or value <= meta["maximum"], spec.name
