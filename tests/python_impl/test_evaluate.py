"""One-shot evaluation (docs/evaluation.md): Koch's trial draws, Lake's runs, ties count as
wrong, the siamese and MHD scorers, and the `evaluate` task through the CLI."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from oneshot_common.errors import InputError
from oneshot_common.evaluate import evaluate_one_shot, judge, score_trials
from oneshot_common.rng import Rng
from oneshot_common.sampling import scan_dataset
from oneshot_common.trials import TrialSet, draw_koch_trials, load_trials, read_lake_runs
from oneshot_torch.evaluate import SiameseScorer
from oneshot_torch.model import PRESETS, SiameseNet

from .conftest import make_dataset, run_cli, write_png

JobWriter = Callable[..., Path]
# Two alphabets of 5 characters and one of 2, four drawers each (2 is never eligible at 3-way).
EVAL_LAYOUT = {
    "Alpha": {f"character{c:02d}": 4 for c in range(1, 6)},
    "Beta": {f"character{c:02d}": 4 for c in range(1, 6)},
    "Small": {"character01": 4, "character02": 4},
}


class ConstantScorer:
    """A collapsed network: every pair gets the same score."""

    name = "constant"

    def embed(self, images: np.ndarray) -> np.ndarray:
        return images

    def similarity(self, embeddings: Any, queries: np.ndarray, candidates: np.ndarray) -> Any:
        return np.full(len(queries), 0.25)


class HammingScorer:
    """Minus the number of differing pixel bits: perfect when drawers are pixel-identical."""

    name = "hamming"

    def embed(self, images: np.ndarray) -> np.ndarray:
        return np.unpackbits(images, axis=1)

    def similarity(self, embeddings: Any, queries: np.ndarray, candidates: np.ndarray) -> Any:
        return -(embeddings[queries] != embeddings[candidates]).sum(axis=1).astype(np.float64)


@pytest.fixture
def eval_root(tmp_path: Path) -> Path:
    root = tmp_path / "eval"
    make_dataset(root, EVAL_LAYOUT)
    return root


def same_drawings_dataset(root: Path) -> None:
    """Every drawer of a character draws the very same pixels (distinct per character)."""
    rng = np.random.default_rng(0)
    for alphabet, characters in EVAL_LAYOUT.items():
        for character, count in characters.items():
            ink = rng.random((105, 105)) < 0.2
            for k in range(count):
                write_png(root / alphabet / character / f"{k:02d}.png", ink)


def character_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


def test_koch_trials_have_n_distinct_characters_of_one_alphabet_and_two_drawers(
    eval_root: Path,
) -> None:
    trials = draw_koch_trials(scan_dataset(eval_root), 3, 300, Rng(1, "trials"))
    positions: Counter[int] = Counter()
    for trial in trials:
        chars = [character_of(c) for c in trial.candidates]
        assert len(set(chars)) == 3 and len({c.split("/")[0] for c in chars}) == 1
        assert not chars[0].startswith("Small")  # fewer characters than ways: never drawn
        assert character_of(trial.query) == chars[trial.answer]
        support_drawers = {c.rsplit("/", 1)[1] for c in trial.candidates}
        assert len(support_drawers) == 1 and trial.query.rsplit("/", 1)[1] not in support_drawers
        positions[trial.answer] += 1
    assert sorted(positions) == [0, 1, 2] and min(positions.values()) > 70  # 100 expected


def test_koch_trials_follow_the_documented_draw_order(eval_root: Path) -> None:
    dataset = scan_dataset(eval_root)
    [trial] = draw_koch_trials(dataset, 3, 1, Rng(42, "trials"))
    rng = Rng(42, "trials")
    alphabet = [0, 1][rng.below(2)]
    order = list(range(5))
    for i in range(3):
        j = i + rng.below(5 - i)
        order[i], order[j] = order[j], order[i]
    chars = [dataset.alphabet_start[alphabet] + k for k in order[:3]]
    d1 = rng.below(4)
    d2 = rng.below(3)
    d2 += d2 >= d1
    answer = rng.below(3)
    assert trial.answer == answer and trial.query == dataset.images[chars[answer]][d1]
    assert trial.candidates == tuple(dataset.images[c][d2] for c in chars)


def test_koch_trials_are_deterministic_and_need_an_alphabet_of_n_characters(
    eval_root: Path,
) -> None:
    dataset = scan_dataset(eval_root)
    first = draw_koch_trials(dataset, 4, 50, Rng(3, "trials"))
    assert first == draw_koch_trials(dataset, 4, 50, Rng(3, "trials"))
    assert first != draw_koch_trials(dataset, 4, 50, Rng(4, "trials"))
    with pytest.raises(InputError, match="no alphabet has 6 characters"):
        draw_koch_trials(dataset, 6, 1, Rng(3, "trials"))


def test_ties_and_nan_count_as_wrong() -> None:
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [np.nan, 3.0, 0.0], [5.0, 5.0, 5.0]])
    predicted, correct = judge(scores, np.array([0, 1, 1, 2]))
    assert predicted.tolist() == [-1, 1, -1, -1]
    assert correct.tolist() == [False, True, False, False]


def test_a_constant_scorer_gets_no_credit_and_a_perfect_one_gets_all(eval_root: Path) -> None:
    same_drawings_dataset(eval_root)
    trials = load_trials(
        str(eval_root), draw_koch_trials(scan_dataset(eval_root), 5, 40, Rng(0, "trials"))
    )
    assert evaluate_one_shot(ConstantScorer(), trials) == 0.0
    assert evaluate_one_shot(HammingScorer(), trials) == 1.0


def test_each_distinct_image_is_decoded_and_embedded_once(eval_root: Path) -> None:
    drawn = draw_koch_trials(scan_dataset(eval_root), 3, 30, Rng(0, "trials"))
    trials = load_trials(str(eval_root), drawn)
    distinct = {p for t in drawn for p in (t.query, *t.candidates)}
    assert len(trials.paths) == len(distinct) == len(trials.images)
    for t, trial in enumerate(drawn):
        assert trials.paths[trials.queries[t]] == trial.query
        assert [trials.paths[i] for i in trials.candidates[t]] == list(trial.candidates)


def test_a_collapsed_siamese_network_scores_zero_not_one_hundred(eval_root: Path) -> None:
    net = SiameseNet(PRESETS["tiny"])
    with torch.no_grad():
        for param in net.parameters():
            param.zero_()  # every embedding and every logit is the same
    trials = load_trials(
        str(eval_root), draw_koch_trials(scan_dataset(eval_root), 5, 20, Rng(0, "trials"))
    )
    assert evaluate_one_shot(SiameseScorer(net, batch=7), trials) == 0.0


def test_siamese_scores_are_the_head_logits_of_the_embeddings(eval_root: Path) -> None:
    torch.manual_seed(0)
    net = SiameseNet(PRESETS["tiny"])
    trials = load_trials(
        str(eval_root), draw_koch_trials(scan_dataset(eval_root), 3, 4, Rng(0, "trials"))
    )
    outcome = score_trials(SiameseScorer(net, batch=3), trials)
    scorer = SiameseScorer(net, batch=1000)
    emb = scorer.embed(trials.images)
    with torch.no_grad():
        q = emb[torch.from_numpy(trials.queries)].repeat_interleave(3, dim=0)
        c = emb[torch.from_numpy(trials.candidates.reshape(-1))]
        expected = net.head(q, c).reshape(4, 3).double().numpy()
    assert np.allclose(outcome.scores, expected, rtol=1e-6, atol=1e-6)


def test_siamese_warm_up_is_outside_the_timed_embedding_and_changes_no_score(
    eval_root: Path,
) -> None:
    torch.manual_seed(0)
    net = SiameseNet(PRESETS["tiny"])
    trials = load_trials(
        str(eval_root), draw_koch_trials(scan_dataset(eval_root), 3, 4, Rng(0, "trials"))
    )
    cold = score_trials(SiameseScorer(net, batch=3), trials)
    warm = score_trials(SiameseScorer(net, batch=3, warmup_batches=2), trials)
    # Without warm-up calls the first timed call is the cold one; either way it is recorded.
    assert cold.first_batch_s is not None and warm.first_batch_s is not None
    assert cold.first_batch_s > 0 and warm.first_batch_s > 0
    assert np.array_equal(cold.scores, warm.scores)
    # The warm-up calls have their own seconds, at least the first call's.
    assert cold.warmup_s < warm.warmup_s and warm.warmup_s >= warm.first_batch_s


def fake_runs(root: Path, runs: int, ways: int) -> None:
    """Lake's layout: runNN/{training/classJJ.png, test/itemKK.png, class_labels.txt}."""
    rng = np.random.default_rng(0)
    for r in range(1, runs + 1):
        run = f"run{r:02d}"
        lines = []
        inks = [rng.random((105, 105)) < 0.2 for _ in range(ways)]
        for k in range(1, ways + 1):
            answer = ways + 1 - k  # item k is a pixel copy of its answer, class (ways + 1 - k)
            write_png(root / run / "training" / f"class{k:02d}.png", inks[k - 1])
            write_png(root / run / "test" / f"item{k:02d}.png", inks[answer - 1])
            lines.append(f"{run}/test/item{k:02d}.png {run}/training/class{answer:02d}.png")
        (root / run / "class_labels.txt").write_text("\n".join(lines) + "\n")


def test_lake_runs_keep_file_order_and_sort_the_candidates(tmp_path: Path) -> None:
    fake_runs(tmp_path, 2, 3)
    trials = read_lake_runs(str(tmp_path), ways=3)
    assert [t.run for t in trials] == [0, 0, 0, 1, 1, 1]
    assert trials[0].query == "run01/test/item01.png"
    assert trials[0].candidates == tuple(f"run01/training/class{k:02d}.png" for k in (1, 2, 3))
    assert trials[0].answer == 2 and trials[4].answer == 1
    with pytest.raises(InputError, match=r"3-way, expected params\.ways = 4"):
        read_lake_runs(str(tmp_path), ways=4)
    (tmp_path / "run02" / "class_labels.txt").write_text("run02/test/item01.png\n")
    with pytest.raises(InputError, match=r"class_labels.txt:1: expected 2 fields"):
        read_lake_runs(str(tmp_path))


def run_job(job: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = run_cli(job)
    result_path = job.parent / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    return done, result


def test_evaluate_task_lake_mhd_writes_predictions(tmp_path: Path, job_writer: JobWriter) -> None:
    fake_runs(tmp_path / "runs", 2, 4)
    params = {"protocol": "lake", "runs": str(tmp_path / "runs"), "ways": 4, "scorer": "mhd"}
    done, result = run_job(job_writer(tmp_path, "evaluate", params))
    assert done.returncode == 0, done.stderr
    metrics = result["metrics"]
    # Test items are pixel copies of their answers: MHD 0, every trial right.
    assert metrics["accuracy"] == 1.0 and metrics["error_pct"] == 0.0 and metrics["trials"] == 8
    assert metrics["run_error_pct"] == [0.0, 0.0] and metrics["trials_per_s"] > 0
    out = Path(result["outputs"]["predictions"])
    lines = (tmp_path / next(tmp_path.glob("out-evaluate-*")) / out).read_text().splitlines()
    assert lines[0] == "trial\tquery\tpredicted\tanswer\tcorrect" and len(lines) == 9
    assert lines[1] == "0\trun01/test/item01.png\t" + "run01/training/class04.png\t" * 2 + "1"


def test_evaluate_task_koch_needs_an_eval_root(eval_root: Path, job_writer: JobWriter) -> None:
    done, result = run_job(job_writer(eval_root, "evaluate", {"scorer": "mhd", "ways": 3}))
    assert done.returncode == 2 and result["ok"] is False
    assert done.stderr.strip().splitlines() == [
        "error: dataset.eval_root: null, expected the evaluation alphabets' folder for "
        "protocol: koch"
    ]
    job = job_writer(
        eval_root,
        "evaluate",
        {"scorer": "mhd", "ways": 3, "trials": 25},
        dataset={"root": str(eval_root), "eval_root": str(eval_root)},
    )
    done, result = run_job(job)
    assert done.returncode == 0, done.stderr
    assert result["metrics"]["trials"] == 25 and 0.0 <= result["metrics"]["accuracy"] <= 1.0
    assert result["metrics"]["error_pct"] == pytest.approx(
        100 - 100 * result["metrics"]["accuracy"]
    )
    # Where the task's time went: the parts are disjoint sections of task_s.
    parts = ("setup_s", "draw_s", "load_s", "warmup_s", "embed_s", "score_s")
    metrics = result["metrics"]
    assert all(isinstance(metrics[p], float) and metrics[p] >= 0 for p in parts)
    assert metrics["draw_s"] > 0 and metrics["load_s"] > 0 and metrics["warmup_s"] == 0
    assert sum(metrics[p] for p in parts) <= metrics["task_s"]


def test_trial_set_reports_its_ways(eval_root: Path) -> None:
    drawn = draw_koch_trials(scan_dataset(eval_root), 4, 2, Rng(0, "trials"))
    trials: TrialSet = load_trials(str(eval_root), drawn)
    assert trials.ways == 4 and len(trials) == 2
