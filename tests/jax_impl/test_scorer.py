"""The siamese scorer's loops, written once (oneshot_common.netscorer), around python-jax's and
python-torch's networks on the same weights: the same scores and embeddings, the head in chunks
as in one call, and no compilation inside jax's timed sections (warm-up first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from oneshot_common.evaluate import score_trials
from oneshot_common.rng import Rng
from oneshot_common.sampling import scan_dataset
from oneshot_common.shape import PRESETS
from oneshot_common.trials import TrialSet, draw_koch_trials, load_trials
from oneshot_jax.evaluate import HEAD_PAIRS, JaxScorer
from oneshot_jax.network import Network
from oneshot_torch.evaluate import SiameseScorer

from .conftest import make_dataset
from .test_model import rel, same_weights, torch_net

SHAPE = PRESETS["tiny"]
LAYOUT = {
    "Alpha": {f"character{c:02d}": 3 for c in range(1, 6)},
    "Beta": {f"character{c:02d}": 3 for c in range(1, 5)},
}


@pytest.fixture
def trials(tmp_path: Path) -> TrialSet:
    make_dataset(tmp_path, LAYOUT)
    drawn = draw_koch_trials(scan_dataset(tmp_path), 4, 12, Rng(5, "trials"))
    return load_trials(str(tmp_path), drawn)


def test_jax_and_torch_scorers_agree_on_the_same_weights(trials: TrialSet) -> None:
    net = torch_net(SHAPE)
    weights = same_weights(net)
    batch = 7  # the images do not fill the last batch: jax compiles its size too
    assert len(trials.images) % batch
    torch_outcome = score_trials(SiameseScorer(net, batch, warmup_batches=1), trials)
    jax_outcome = score_trials(JaxScorer(Network(SHAPE), lambda: weights, batch, None, 1), trials)
    assert rel(torch_outcome.scores, jax_outcome.scores) < 1e-5
    assert torch_outcome.predicted.tolist() == jax_outcome.predicted.tolist()
    torch_emb = SiameseScorer(net, batch).embed(trials.images).numpy()
    jax_emb = JaxScorer(Network(SHAPE), lambda: weights, batch).embed(trials.images)
    assert jax_emb.shape == torch_emb.shape == (len(trials.images), SHAPE.embedding)
    assert rel(torch_emb, jax_emb) < 1e-5


def test_jax_timed_sections_run_only_programs_compiled_before_them(trials: TrialSet) -> None:
    weights = same_weights(torch_net(SHAPE))
    network = Network(SHAPE)
    batch, count = 7, len(trials.images)
    scorer = JaxScorer(network, lambda: weights, batch, None, 2)
    first_s = scorer.warm_up(trials.images)
    assert first_s is not None and first_s > 0 and scorer.first_call_s == first_s
    compiled, compile_s = set(network._compiled), network.compile_s
    assert compiled == {("embed", batch), ("embed", count % batch), ("head", HEAD_PAIRS)}
    assert compile_s > 0
    embeddings = scorer.embed(trials.images)
    queries = np.repeat(trials.queries, trials.ways)
    scorer.similarity(embeddings, queries, trials.candidates.reshape(-1))
    assert set(network._compiled) == compiled and network.compile_s == compile_s


def test_the_head_in_chunks_scores_as_in_one_call(trials: TrialSet) -> None:
    net = torch_net(SHAPE)
    weights = same_weights(net)
    count = len(trials.images)
    rng = np.random.default_rng(0)
    pairs = 2 * HEAD_PAIRS + 300  # three chunks of jax's head, the last one padded
    queries = rng.integers(0, count, pairs).astype(np.intp)
    candidates = rng.integers(0, count, pairs).astype(np.intp)
    whole = SiameseScorer(net, 5)
    assert whole.network.head_pairs is None
    embeddings = whole.embed(trials.images)
    expected = whole.similarity(embeddings, queries, candidates)
    chunked = SiameseScorer(net, 5)
    chunked.network.head_pairs = 7  # the shared loop over chunks, with a short last chunk
    assert np.allclose(chunked.similarity(embeddings, queries, candidates), expected, atol=1e-6)
    jax_scorer = JaxScorer(Network(SHAPE), lambda: weights, 5)
    jax_scores = jax_scorer.similarity(jax_scorer.embed(trials.images), queries, candidates)
    assert jax_scores.dtype == expected.dtype == np.float64 and jax_scores.shape == (pairs,)
    assert rel(expected, jax_scores) < 1e-5
