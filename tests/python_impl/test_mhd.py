"""The modified Hausdorff distance scorer: exact against the brute-force definition, and the
official demo's 38.75% mean error on Lake's all_runs (docs/evaluation.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from oneshot_common.data import pack_bits
from oneshot_common.evaluate import run_error_pct, score_trials
from oneshot_common.mhd import MhdScorer, brute_force_mhd, ink_cloud, modified_hausdorff
from oneshot_common.trials import load_trials, read_lake_runs


def blob(seed: int, density: float = 0.03) -> np.ndarray:
    """A sparse random ink pattern inside the image, at a random place."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((105, 105), dtype=bool)
    y0, x0 = rng.integers(0, 60, size=2)
    ink[y0 : y0 + 45, x0 : x0 + 45] = rng.random((45, 45)) < density * 10
    return ink


def test_fast_distance_is_bit_identical_to_the_brute_force_definition() -> None:
    clouds = [ink_cloud(blob(seed)) for seed in range(8)]
    for a in clouds:
        for b in clouds:
            assert modified_hausdorff(a, b) == brute_force_mhd(a.points, b.points)


def test_edge_ink_and_far_apart_clouds_match_the_brute_force() -> None:
    left, right = np.zeros((105, 105), bool), np.zeros((105, 105), bool)
    left[:, 0] = True  # first column: the tables' clipping at column 0
    left[50, :3] = True
    right[0, 90:] = True  # last columns, one row only
    right[104, 104] = True
    a, b = ink_cloud(left), ink_cloud(right)
    assert modified_hausdorff(a, b) == brute_force_mhd(a.points, b.points)
    assert modified_hausdorff(b, a) == modified_hausdorff(a, b)


def test_distance_is_zero_for_a_translated_copy_and_positive_otherwise() -> None:
    ink, shifted = np.zeros((105, 105), bool), np.zeros((105, 105), bool)
    rng = np.random.default_rng(3)
    pattern = rng.random((40, 40)) < 0.2
    ink[10:50, 20:60] = pattern
    shifted[55:95, 3:43] = pattern
    # Centring removes the translation (up to the rounding of the two means).
    assert modified_hausdorff(ink_cloud(ink), ink_cloud(shifted)) < 1e-12
    assert modified_hausdorff(ink_cloud(ink), ink_cloud(blob(4))) > 0.5


def test_an_image_without_ink_is_infinitely_far() -> None:
    empty = np.zeros((105, 105), bool)
    assert math.isinf(modified_hausdorff(ink_cloud(empty), ink_cloud(blob(1))))


def test_scorer_similarity_is_minus_the_distance() -> None:
    images = pack_bits(np.stack([blob(1), blob(2), blob(3)]))
    scorer = MhdScorer()
    clouds = scorer.embed(images)
    scores = scorer.similarity(clouds, np.array([0, 0, 1]), np.array([0, 1, 2]))
    assert scores[0] == 0.0
    assert scores[1] == -modified_hausdorff(clouds[0], clouds[1])
    assert scores[2] == -brute_force_mhd(clouds[1].points, clouds[2].points)


@pytest.mark.slow
def test_mhd_reproduces_the_official_demo_on_all_runs(all_runs: Path) -> None:
    # brendenlake/omniglot's demo_classification.py: "38.8% average error" (38.75 exactly).
    trials = load_trials(str(all_runs), read_lake_runs(str(all_runs), ways=20))
    outcome = score_trials(MhdScorer(), trials)
    errors = run_error_pct(trials, outcome)
    assert len(errors) == 20 and len(trials) == 400
    assert abs(sum(errors) / 20 - 38.75) <= 0.1
    clouds = MhdScorer().embed(trials.images[:6])
    for a in clouds:
        for b in clouds:
            assert modified_hausdorff(a, b) == brute_force_mhd(a.points, b.points)
