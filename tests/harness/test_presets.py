"""Model presets: resolved by the harness, identical to the Python implementation's table."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import HarnessError
from harness.run.presets import PRESETS, resolve_model


def test_presets_match_the_python_implementation() -> None:
    from oneshot_torch.model import PRESETS as IMPL_PRESETS

    assert set(PRESETS) == set(IMPL_PRESETS)
    for name, shape in IMPL_PRESETS.items():
        impl = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(shape).items()
        }
        assert PRESETS[name] == impl, name


def test_preset_with_override() -> None:
    model = resolve_model({"preset": "paper", "embedding": 512})
    assert model == {
        "filters": [64, 128, 128, 256],
        "kernels": [10, 7, 4, 4],
        "embedding": 512,
        "input": 105,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"preset": "huge"}, "model.preset: unknown preset 'huge'"),
        ({"filters": [1, 2, 3, 4]}, "model.kernels: missing"),
        ({"preset": "cpu", "filters": [1, 2]}, "model.filters: expected 4 positive integers"),
        ({"preset": "cpu", "colour": 1}, "model.colour: unknown key"),
    ],
)
def test_bad_models_are_one_line_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_model(raw)


def test_conv_fft_picks_the_layers_where_it_pays() -> None:
    paper = resolve_model({"preset": "paper", "conv": "fft"})
    assert paper is not None and paper["conv"] == ["direct", "fft", "fft", "fft"]
    small = resolve_model({"preset": "small", "conv": "fft"})
    assert small is not None and small["conv"] == ["direct", "fft", "direct", "direct"]
    # small's 3x3 layers stay direct; nothing pays on tiny (its 5x5 conv1 has one input channel,
    # the rest are 3x3 and 2x2) and direct is the default: no conv key.
    assert "conv" not in (resolve_model({"preset": "tiny", "conv": "fft"}) or {})
    assert "conv" not in (resolve_model({"preset": "paper", "conv": "direct"}) or {})
    forced = resolve_model({"preset": "tiny", "conv": ["fft", "direct", "fft", "direct"]})
    assert forced is not None and forced["conv"] == ["fft", "direct", "fft", "direct"]


@pytest.mark.parametrize("value", ["FFT", "winograd", ["fft"], ["fft"] * 5, 1, None])
def test_bad_conv_is_one_line_naming_the_choices(value: object) -> None:
    with pytest.raises(HarnessError, match=r"^model\.conv: got .*expected direct, fft or a list"):
        resolve_model({"preset": "paper", "conv": value})


def test_width_scale_multiplies_every_width_of_the_preset() -> None:
    half = resolve_model({"preset": "paper", "width_scale": 0.5})
    assert half == {**PRESETS["paper"], "filters": [32, 64, 64, 128], "embedding": 2048}
    # Rounded, never below one channel; kernels and the input side stay.
    tiny = resolve_model({"preset": "tiny", "width_scale": 0.1})
    assert tiny is not None and tiny["filters"] == [1, 1, 1, 2] and tiny["embedding"] == 3
    assert tiny["kernels"] == PRESETS["tiny"]["kernels"] and tiny["input"] == 32
    explicit = resolve_model({"preset": "cpu", "filters": [10, 20, 30, 40], "width_scale": 2})
    assert explicit is not None and explicit["filters"] == [20, 40, 60, 80]


@pytest.mark.parametrize("value", [0, -1, 17, "half", True, None])
def test_bad_width_scale_is_one_line(value: object) -> None:
    with pytest.raises(HarnessError, match=r"^model\.width_scale: expected a number in \(0, 16\]"):
        resolve_model({"preset": "paper", "width_scale": value})
