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
