"""The shared generator (oneshot_common.rng) reproduces tests/vectors/rng.json exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from oneshot_common.rng import Rng, fnv1a64

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rng.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['stream']}-{case['seed']}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_generator_matches_vectors(case: dict[str, Any]) -> None:
    seed = int(case["seed"])
    assert fnv1a64(case["stream"].encode("utf-8")) == int(case["fnv1a64"])
    rng = Rng(seed, case["stream"])
    assert [rng.next_u64() for _ in case["next_u64"]] == [int(v) for v in case["next_u64"]]
    rng = Rng(seed, case["stream"])
    assert [rng.below(int(n)) for n, _ in case["below_sequence"]] == [
        int(v) for _, v in case["below_sequence"]
    ]
    rng = Rng(seed, case["stream"])
    assert [rng.uniform() for _ in case["uniform"]] == case["uniform"]


def test_below_stays_in_range_and_rejects_zero() -> None:
    rng = Rng(3, "pairs")
    assert all(0 <= rng.below(7) < 7 for _ in range(1000))
    with pytest.raises(ValueError):
        rng.below(0)


def test_rejects_seed_outside_u64() -> None:
    with pytest.raises(ValueError):
        Rng(1 << 64, "pairs")
    with pytest.raises(ValueError):
        Rng(-1, "pairs")
