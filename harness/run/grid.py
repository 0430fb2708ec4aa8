"""A sweep's grid (`sweep:` in a config): its shape, its points, each point's config.

Pure functions over the decoded YAML: `expand` gives every point of the grid's cartesian
product (the last key varies fastest) with the config it runs; config.py validates each one,
sweep.py runs them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

MAX_POINTS = 1000
FORBIDDEN_KEYS = ("name", "sweep")


@dataclass(frozen=True)
class Point:
    index: int
    values: dict[str, Any]
    raw: dict[str, Any]  # the point's whole config, without `sweep`

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.values.items())

    @property
    def dir(self) -> str:
        return f"points/{self.index:02d}"


def check_grid(grid: Any) -> dict[str, list[Any]]:
    """`sweep:`'s shape: a mapping of key paths to non-empty lists of values."""
    if not isinstance(grid, Mapping) or not grid:
        raise HarnessError(
            f"sweep: expected a mapping of config keys to lists of values "
            f"(e.g. `model.width_scale: [0.25, 0.5, 1]`), got {grid!r}"
        )
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise HarnessError(f"sweep: {key!r}: expected a dotted key path such as model.input")
        if key.split(".")[0] in FORBIDDEN_KEYS:
            raise HarnessError(f"sweep.{key}: cannot be swept (every point shares the run's)")
        if not isinstance(values, list) or not values:
            raise HarnessError(f"sweep.{key}: expected a non-empty list of values, got {values!r}")
        out[key] = values
    count = 1
    for values in out.values():
        count *= len(values)
    if count > MAX_POINTS:
        raise HarnessError(f"sweep: {count} points; expected at most {MAX_POINTS}")
    return out


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set one swept key in a decoded config (a `--set` path or `tasks.*.KEY`)."""
    parts = key.split(".")
    if parts[:2] == ["tasks", "*"]:
        rest = parts[2:]
        if not rest:
            raise HarnessError(f"sweep.{key}: expected tasks.*.PARAMETER")
        tasks = raw.get("tasks")
        hits = 0
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict) and len(task) == 1:
                params = next(iter(task.values()))
                if isinstance(params, dict) and _has(params, rest):
                    set_path(params, rest, value, f"sweep.{key}")
                    hits += 1
        if not hits:
            raise HarnessError(
                f"sweep.{key}: no task has a parameter {'.'.join(rest)}; "
                "give it to the tasks it applies to first"
            )
        return
    set_path(raw, parts, value, f"sweep.{key}")


def _has(node: Mapping[str, Any], parts: Sequence[str]) -> bool:
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def set_path(node: Any, parts: Sequence[str], value: Any, label: str) -> None:
    """Set `value` (a copy) at the key path `parts` of a decoded config, making mappings on the
    way; list items by index. Errors name `label` (`--set a.b`, `sweep.a.b`)."""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise HarnessError(f"{label}: {where} must index a list of {len(node)} items")
            if last:
                node[int(part)] = deepcopy(value)
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = deepcopy(value)
            else:
                node = node.setdefault(part, {})
        else:
            raise HarnessError(f"{label}: {'.'.join(parts[:i])} is not a mapping or list")


def expand(raw: Mapping[str, Any]) -> list[Point]:
    """The points of a config with `sweep:`, each with its own config (not validated here)."""
    grid = check_grid(raw.get("sweep"))
    base = {k: v for k, v in raw.items() if k != "sweep"}
    points = []
    for index, combo in enumerate(itertools.product(*grid.values())):
        values = dict(zip(grid, combo, strict=True))
        point_raw = deepcopy(base)
        for key, value in values.items():
            set_key(point_raw, key, value)
        points.append(Point(index, values, point_raw))
    return points
