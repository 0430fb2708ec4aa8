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
CONV_ALGORITHMS = ("direct", "fft")


def fft_pays(kernel: int, cin: int) -> bool:
    """The layers `conv: fft` computes by FFT: kernels of 4 or more over several channels.

    Measured on the `paper` shape (rust-native against itself; docs/results.md): conv2 (7x7
    over 64 channels) runs about twice as fast by FFT, forward and backward, on every machine
    tried; conv1 (one input channel, 10x10 on a 105-pixel side) runs slower, since 64 inverse
    transforms per image cost more than its GEMM. The 4x4 layers (conv3, conv4) gained nothing
    clear on an AVX-512 Zen 5 and gained 24% in a `step` b32 and 29% in `forward` on an AVX2
    Zen 3 (the cpu-bench sweep of 2026-12-03 over conv2 alone against conv2 to conv4); 3x3 and
    smaller stay direct (not measured to pay). A list of four algorithms chooses per layer.
    """
    return kernel >= 4 and cin > 1


def resolve_conv(raw: Any, filters: list[int], kernels: list[int]) -> list[str]:
    """`model.conv`: `direct`, `fft` (the layers where it pays) or one algorithm per layer."""
    if isinstance(raw, str) and raw in CONV_ALGORITHMS:
        if raw == "direct":
            return ["direct"] * 4
        cins = [1, *filters[:3]]
        return ["fft" if fft_pays(k, c) else "direct" for k, c in zip(kernels, cins, strict=True)]
    if isinstance(raw, list) and len(raw) == 4 and all(a in CONV_ALGORITHMS for a in raw):
        return list(raw)
    raise HarnessError(
        f"model.conv: got {raw!r}, expected direct, fft or a list of 4 of those "
        "(one per conv layer)"
    )


def scale_widths(scale: Any, filters: list[int], embedding: int) -> dict[str, Any]:
    """`model.width_scale`: every layer's width (the four filter counts and the embedding)
    times `scale`, rounded, at least 1. Kernels and input side stay, so the work per image
    scales about as scale squared (conv2 to conv4, fc1) and linearly (conv1)."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 16:
        raise HarnessError(f"model.width_scale: expected a number in (0, 16], got {scale!r}")
    return {
        "filters": [max(1, round(f * scale)) for f in filters],
        "embedding": max(1, round(embedding * scale)),
    }


def resolve_model(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`{preset: NAME, ...overrides}` or explicit sizes -> the four explicit keys (or None),
    widths times `width_scale` when given, plus `conv` (one algorithm per layer) when a layer
    is to be computed by FFT."""
    if raw is None:
        return None
    unknown = [k for k in raw if k not in ("preset", *KEYS, "width_scale", "conv")]
    if unknown:
        raise HarnessError(
            f"model.{unknown[0]}: unknown key; expected preset, filters, kernels, embedding, "
            "input, width_scale, conv"
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
    if "width_scale" in raw:
        model.update(scale_widths(raw["width_scale"], model["filters"], model["embedding"]))
    if "conv" in raw:
        conv = resolve_conv(raw["conv"], model["filters"], model["kernels"])
        if "fft" in conv:  # all-direct is the default every implementation runs
            model["conv"] = conv
    return model
