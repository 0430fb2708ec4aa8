"""Network shapes the configs name: `model: {preset: paper}` or explicit sizes.

The harness resolves a preset into the job's `model` section (docs/protocol.md), so an
implementation only ever sees explicit sizes. The table matches the Python implementation's
presets (tests/harness/test_presets.py checks that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import HarnessError

PRESETS: dict[str, dict[str, Any]] = {
    # Koch et al. (2015): 38,951,745 parameters.
    "paper": {
        "filters": [64, 128, 128, 256],
        "kernels": [10, 7, 4, 4],
        "embedding": 4096,
        "input": 105,
    },
    # CPU-sized: half the widths and a 1024 embedding.
    "cpu": {
        "filters": [32, 64, 64, 128],
        "kernels": [10, 7, 4, 4],
        "embedding": 1024,
        "input": 105,
    },
    # CPU quality runs: the `cpu` widths on a 52-pixel input with kernels 5, 5, 3, 3.
    "small": {
        "filters": [32, 64, 64, 128],
        "kernels": [5, 5, 3, 3],
        "embedding": 1024,
        "input": 52,
    },
    # For tests: a 32-pixel input and tiny widths.
    "tiny": {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32},
}
KEYS = ("filters", "kernels", "embedding", "input")


def resolve_model(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`{preset: NAME, ...overrides}` or explicit sizes -> the four explicit keys (or None)."""
    if raw is None:
        return None
    unknown = [k for k in raw if k not in ("preset", *KEYS)]
    if unknown:
        raise HarnessError(
            f"model.{unknown[0]}: unknown key; expected preset, filters, kernels, embedding, input"
        )
    preset = raw.get("preset")
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        raise HarnessError(
            f"model.preset: unknown preset {preset!r}; expected one of {', '.join(PRESETS)}"
        )
    model = dict(PRESETS[preset]) if preset is not None else {}
    model.update({k: raw[k] for k in KEYS if k in raw})
    missing = [k for k in KEYS if k not in model]
    if missing:
        raise HarnessError(
            f"model.{missing[0]}: missing; give a preset ({', '.join(PRESETS)}) "
            f"or all of {', '.join(KEYS)}"
        )
    for key in ("filters", "kernels"):
        value = model[key]
        if (
            not isinstance(value, list)
            or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            raise HarnessError(f"model.{key}: expected 4 positive integers, got {value!r}")
    for key, lo in (("embedding", 1), ("input", 8)):
        value = model[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise HarnessError(f"model.{key}: expected an integer >= {lo}, got {value!r}")
    return model
