"""Fixtures for the Python implementation's tests: tiny Omniglot-layout data sets made with Pillow.

`make_dataset(root, layout)` writes `root/<alphabet>/<character>/<NN>.png` files (105x105,
1-bit, ink 0) whose pixels differ per image, so decoding and pairing can be checked exactly.
The real Omniglot fixtures (`omniglot_small1`, ...) come from tests/conftest.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

Layout = Mapping[str, Mapping[str, int]]


def glyph(seed: int) -> np.ndarray:
    """A deterministic [105, 105] boolean ink pattern (True = ink) for image number `seed`."""
    rng = np.random.default_rng(seed)
    return rng.random((105, 105)) < 0.2


def write_png(path: Path, ink: np.ndarray) -> None:
    """Write a 1-bit PNG with ink 0 and background 1, as Omniglot does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(~ink).convert("1").save(path)


def make_dataset(root: Path, layout: Layout) -> dict[str, np.ndarray]:
    """Write a data set; returns relative path -> ink pattern of every image written."""
    written: dict[str, np.ndarray] = {}
    number = 0
    for alphabet, characters in layout.items():
        for character, count in characters.items():
            for k in range(count):
                rel = f"{alphabet}/{character}/{k:02d}.png"
                ink = glyph(number)
                write_png(root / rel, ink)
                written[rel] = ink
                number += 1
    return written


TINY: Layout = {
    "Alpha": {"character01": 3, "character02": 2, "character03": 4},
    "Beta": {"character01": 2, "character02": 3},
    "Gamma": {"character01": 2, "character02": 2, "character03": 2},
}


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Three alphabets, 2-3 characters each, 2-4 images per character."""
    root = tmp_path / "data"
    return root, make_dataset(root, TINY)


@pytest.fixture
def job_writer(tmp_path: Path) -> Callable[..., Path]:
    """Returns a function writing a valid job file (overrides merged in) and its out_dir."""

    def write(root: Path, task: str, params: dict[str, Any], **overrides: Any) -> Path:
        out_dir = tmp_path / f"out-{task}-{len(list(tmp_path.glob('out-*')))}"
        out_dir.mkdir()
        job: dict[str, Any] = {
            "format_version": 1,
            "task": task,
            "seed": 7,
            "threads": 1,
            "out_dir": str(out_dir),
            "dataset": {"root": str(root), "eval_root": None},
            "inputs": {"pairs": None, "weights": None},
            "model": None,
            "params": params,
        }
        job.update(overrides)
        path = out_dir / "job.json"
        path.write_text(json.dumps(job), encoding="utf-8")
        return path

    return write


def run_cli(job: Path) -> subprocess.CompletedProcess[str]:
    """`python -m oneshot_torch run JOB` in a fresh process, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "oneshot_torch", "run", str(job)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
