"""JSON Schema documents generated from the pydantic models, and the command that writes one
(`python -m harness.results`, `python -m harness.archive.record`), or with `--check` compares
it with the committed file."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def schema_document(model: type[BaseModel], schema_id: str, description: str) -> dict[str, Any]:
    """A model's JSON Schema document (draft 2020-12) with its id and description."""
    schema = model.model_json_schema()
    schema["description"] = description
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, **schema}


def schema_command(path: Path, text: str, command: str, argv: Sequence[str] | None) -> int:
    """Write the generated schema `text` to `path` (--check: compare); `command` remakes it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--check"]:
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        print(f"{path}: {'up to date' if same else f'stale: run {command}'}")
        return 0 if same else 1
    if args:
        print(f"usage: {command} [--check]", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
