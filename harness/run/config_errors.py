"""Config errors as one line: pydantic's validation errors ranked and turned into prose.

`validate(model, raw, where)` validates like `model.model_validate(raw)` and raises the first
problem, in the order the model lists its fields (unknown keys first), as one `HarnessError`
line naming the key path, what was expected and what was found (`_one_line`). Validators inside
the models raise `fail(message)` for a finished message. harness/run/config.py holds the models.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from harness.errors import HarnessError

M = TypeVar("M", bound=BaseModel)
# The keys an unknown-key message lists for a model, where they differ from its field order
# (filled in by harness/run/config.py).
LISTED_KEYS: dict[type[BaseModel], tuple[str, ...]] = {}


def fail(message: str, rank: str | None = None) -> PydanticCustomError:
    """A finished one-line message; `rank`: report it as if it were checked just before that key."""
    return PydanticCustomError("harness", "{message}", {"message": message, "rank": rank})


def validate(
    model: type[M], raw: Any, where: tuple[str, ...], context: Mapping[str, Any] | None = None
) -> M:
    """`model.model_validate(raw)`, its first problem raised as one line (see `_one_line`)."""
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        first = min(errors, key=lambda err: _rank(model, err))
        message = _one_line(model, first, where)
    if where:  # inside another model's validator: passed through as a finished message
        raise fail(message)
    raise HarnessError(message)


def _field_model(info: FieldInfo) -> type[BaseModel] | None:
    """The model a field holds (`X` or `X | None`), if any."""
    for kind in (info.annotation, *get_args(info.annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _rank(model: type[BaseModel], err: ErrorDetails) -> tuple[tuple[float, ...], ...]:
    """Where an error sorts: unknown keys first, then by the order of the fields, level by level."""
    key: list[tuple[float, ...]] = []
    current: type[BaseModel] | None = model
    loc = err["loc"]
    for depth, part in enumerate(loc):
        if current is None:
            break
        fields = list(current.model_fields)
        if depth == len(loc) - 1 and err["type"] in UNKNOWN_KEY_ERRORS:
            key.append((0,))
            break
        if part not in fields:
            break
        index = float(fields.index(str(part)))
        ctx = err.get("ctx") or {}
        rank = ctx.get("rank") if depth == len(loc) - 1 else None
        if rank is not None:
            index = fields.index(rank) - 0.5
        key.append((1, index))
        current = _field_model(current.model_fields[str(part)])
    return tuple(key)


# pydantic's errors for a key the model does not have: a misspelt one, or one that is not a
# string at all (YAML's `null:` or `1:`).
UNKNOWN_KEY_ERRORS = ("extra_forbidden", "invalid_key")


def _one_line(model: type[BaseModel], err: ErrorDetails, where: tuple[str, ...]) -> str:
    """A pydantic error as the harness's one line: key path, what was expected, what was got."""
    ctx = err.get("ctx") or {}
    if err["type"] == "harness":
        return str(ctx["message"])
    loc = [str(p) for p in err["loc"]]
    current = model
    for part in loc[:-1]:
        inner = _field_model(current.model_fields[part])
        assert inner is not None, f"no model at {loc}"
        current = inner
    path = ".".join([*where, *loc])
    key, value = loc[-1], err["input"]
    if err["type"] in UNKNOWN_KEY_ERRORS:
        prefix = ".".join([*where, *loc[:-1]])
        prefix = f"{prefix}." if prefix else ""
        known = LISTED_KEYS.get(current, tuple(current.model_fields))
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean `{prefix}{close[0]}`?)" if close else ""
        return f"{path}: unknown key{hint}; expected one of {', '.join(known)}"
    info = current.model_fields[key]
    kinds = [info.annotation, *get_args(info.annotation)]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "expected" in extra:
        return f"{path}: expected {extra['expected']}, got {value!r}"
    if _field_model(info) is not None or any(
        get_origin(k) is Mapping or k in (dict, Mapping) for k in kinds
    ):
        return f"{path}: expected a mapping, got {kind_of(value)}"
    lo = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
    hi = next((m.le for m in info.metadata if isinstance(m, Le)), None)
    if bool in kinds:
        return f"{path}: expected true or false, got {value!r}"
    if int in kinds:
        return f"{path}: expected an integer in [{lo}, {hi}], got {value!r}"
    if float in kinds:
        return f"{path}: expected a number in [{lo}, {hi}], got {value!r}"
    for kind in kinds:
        if get_origin(kind) is Literal:
            return f"{path}: expected one of {', '.join(get_args(kind))}, got {value!r}"
    if str in kinds or Path in kinds:
        return f"{path}: expected a string, got {kind_of(value)}"
    raise AssertionError(f"no one-line message for {err}")  # a field type not handled above


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
