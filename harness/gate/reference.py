"""The gates' reference files: read, write, and what a run must share with its reference.

Each gate keeps its figures in `results/reference/*.json` (ratios.json and memory.json by
gate/ratios.py, instructions.json by gate/instructions.py); `--update` writes one, every other
call reads it. A reference carries a format version; a file of another version, or without the
gate's body key, is refused with the command that remakes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.analysis.comparable import RUN_CONTROL_KEYS
from harness.errors import HarnessError


def write_reference(doc: Mapping[str, Any], path: Path, compact_lists: bool = False) -> None:
    """Indented JSON; `compact_lists`: one list of numbers or names per line, so a refreshed
    reference with many per-repeat values reads as a short diff."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    path.write_text((_compact_lists(text) if compact_lists else text) + "\n", encoding="utf-8")


def _compact_lists(text: str) -> str:
    return re.sub(
        r"\[\s+([-0-9.e+,\s\"a-z_0-9]*?)\s+\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )


def read_reference(
    path: Path, name: str, update_command: str, version: int, body: tuple[str, type], remake: bool
) -> dict[str, Any]:
    """The reference document at `path` of format `version` whose key `body[0]` holds a
    `body[1]`; HarnessError with one line otherwise (`remake`: the line says how to remake it).
    `name` is how messages name the reference (`ratio`: `no ratio reference`)."""
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(
            f"{path}: no {name} reference; make one with `{update_command}`"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: unreadable {name} reference ({e})") from None
    key, kind = body
    if doc.get("format_version") != version or not isinstance(doc.get(key), kind):
        hint = f"; remake it with `{update_command}`" if remake else ""
        a = "an" if name[0] in "aeiou" else "a"
        raise HarnessError(f"{path}: not {a} {name} reference of format {version}{hint}")
    return doc


def cpu_kind(machine: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two machines the same kind for a ratio: CPU model, its vector flags, cores."""
    flags = machine.get("cpu_flags")
    return (machine.get("cpu_model"), sorted(flags or []), machine.get("logical_cores"))


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal between a run and its reference: the config without how it was
    measured (`harness diff`'s run-control keys), and without where the data set lives (its
    checksum is compared separately)."""
    out = {k: v for k, v in config.items() if k not in RUN_CONTROL_KEYS}
    dataset = dict(out.get("dataset") or {})
    dataset.pop("root", None)
    dataset.pop("eval_root", None)
    out["dataset"] = dataset
    return out


def first_difference(a: Any, b: Any, at: str = "config") -> str:
    """'' when equal, else the first differing key as `key: A vs B`."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            why = first_difference(a.get(key), b.get(key), f"{at}.{key}")
            if why:
                return why
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            why = first_difference(x, y, f"{at}.{i}")
            if why:
                return why
        return ""
    return "" if a == b else f"{at}: {json.dumps(a)} vs {json.dumps(b)}"
