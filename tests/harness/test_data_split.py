"""Koch's validation and test halves of the evaluation alphabets (harness/data/split.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.data.split import TEST, VALIDATION, evaluation_halves, split_evaluation
from harness.errors import HarnessError


@pytest.fixture
def evaluation(tmp_path: Path, omniglot_evaluation: Path) -> Path:
    """A private copy of the real evaluation set (hard links, so the session copy stays intact)."""
    copy = tmp_path / "omniglot" / "images_evaluation"
    shutil.copytree(omniglot_evaluation, copy, copy_function=os.link)
    return copy


def pngs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.glob("*/*/*.png"))


def test_the_halves_are_disjoint_and_cover_every_image(evaluation: Path) -> None:
    validation, test = split_evaluation(evaluation)
    assert (validation.name, test.name) == (VALIDATION, TEST)
    val_alphabets = {p.name for p in validation.iterdir() if p.is_dir()}
    test_alphabets = {p.name for p in test.iterdir() if p.is_dir()}
    assert len(val_alphabets) == len(test_alphabets) == 10
    assert not val_alphabets & test_alphabets
    assert sorted(pngs(validation) + pngs(test)) == pngs(evaluation)
    # sorted names, alternating: Angelic goes to validation, Atemayar_Qelisayer to test
    assert "Angelic" in val_alphabets and "Atemayar_Qelisayer" in test_alphabets
    sample = next(validation.glob("*/*/*.png"))
    original = evaluation / sample.relative_to(validation)
    assert sample.read_bytes() == original.read_bytes()
    assert sample.stat().st_ino == original.stat().st_ino  # a hard link, not a copy


def test_every_half_has_alphabets_for_20_way_trials(evaluation: Path) -> None:
    for half in split_evaluation(evaluation):
        sizes = [len(list(a.iterdir())) for a in half.iterdir() if a.is_dir()]
        assert max(sizes) >= 20, half


def test_a_complete_half_is_kept_and_an_incomplete_one_is_finished(evaluation: Path) -> None:
    log: list[str] = []
    _, test = split_evaluation(evaluation, log.append)
    assert len(log) == 2
    split_evaluation(evaluation, log.append)
    assert len(log) == 2  # nothing rewritten
    victim = next(test.glob("*/*/*.png"))
    victim.unlink()
    (test / ".complete").unlink()
    split_evaluation(evaluation, log.append)
    assert victim.is_file() and len(log) == 3


def test_fewer_than_two_alphabets_is_one_clear_error(tmp_path: Path) -> None:
    lonely = tmp_path / "images_evaluation"
    (lonely / "Only" / "character01").mkdir(parents=True)
    with pytest.raises(HarnessError, match="1 alphabet folder\\(s\\), expected at least 2"):
        evaluation_halves(lonely)
