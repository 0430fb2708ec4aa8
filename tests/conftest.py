"""Shared fixtures: the real Omniglot zips beside the checkout, unzipped once per session."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_OMNIGLOT = REPO.parent / "shared" / "omniglot"


def unzip_once(tmp_factory: pytest.TempPathFactory, name: str) -> Path:
    archive = SHARED_OMNIGLOT / f"{name}.zip"
    if not archive.is_file():
        pytest.skip(f"{archive} not found: the real Omniglot zips live in ../shared/omniglot/")
    out = tmp_factory.mktemp(name)
    with zipfile.ZipFile(archive) as z:
        z.extractall(out)
    return out


@pytest.fixture(scope="session")
def omniglot_small1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Official 5-alphabet background subset (2,720 PNGs)."""
    return unzip_once(tmp_path_factory, "images_background_small1") / "images_background_small1"


@pytest.fixture(scope="session")
def omniglot_background(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 30 background alphabets (19,280 PNGs)."""
    return unzip_once(tmp_path_factory, "images_background") / "images_background"


@pytest.fixture(scope="session")
def omniglot_evaluation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 20 evaluation alphabets (13,180 PNGs)."""
    return unzip_once(tmp_path_factory, "images_evaluation") / "images_evaluation"


@pytest.fixture(scope="session")
def all_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lake's 20-way one-shot runs: run01..run20."""
    return unzip_once(tmp_path_factory, "all_runs")
