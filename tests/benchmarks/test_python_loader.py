"""pytest-benchmark: the Python loader against a plain PIL loop on the same real images.

Issue 2 asks that `oneshot_torch`'s loader be no slower than a plain PIL loop. Run the
measurement with `pytest tests/benchmarks --benchmark-enable` and compare the two rows; in the
test suite (benchmarks disabled) each body runs once and checks only that both decode the same
number of images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oneshot_common.data import load_dataset
from oneshot_common.sampling import scan_dataset
from PIL import Image


@pytest.fixture(scope="module")
def paths(omniglot_small1: Path) -> list[str]:
    found = [
        os.path.join(d, f)
        for d, _, fs in os.walk(omniglot_small1)
        for f in fs
        if f.endswith(".png")
    ]
    return sorted(found)


def plain_pil_loop(paths: list[str]) -> int:
    n = 0
    for p in paths:
        with Image.open(p) as im:
            np.asarray(im)
        n += 1
    return n


def test_plain_pil_loop(benchmark: Any, paths: list[str]) -> None:
    assert benchmark(plain_pil_loop, paths) == 2720


def test_oneshot_loader(benchmark: Any, omniglot_small1: Path) -> None:
    dataset = scan_dataset(omniglot_small1)
    packed = benchmark(load_dataset, dataset)
    assert packed.shape == (2720, 1379)
