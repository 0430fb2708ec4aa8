"""N-way one-shot evaluation and the `evaluate` task (docs/evaluation.md), framework-free.

A `Scorer` embeds every distinct image of a `TrialSet` once (`embed`) and scores (query,
candidate) pairs by index (`similarity`, larger = more alike): the siamese scorer (the
network's embedding tower and head logit: netscorer.py's `NetworkScorer`, around
oneshot_torch.evaluate's or oneshot_jax.evaluate's network) and `mhd.MhdScorer` (minus the
modified Hausdorff distance) plug in.
`score_trials` picks, for each trial, the candidate with the strictly highest score: a trial
whose best score is shared by two or more candidates (or is NaN) counts as wrong, so a
constant scorer gets no credit, never 100%. `evaluate_one_shot(scorer, trials)` is the accuracy
alone, for validation during training.

`run_evaluate(job, events, network_scorer)` is the task, given the implementation's factory of
its siamese scorer: Koch's protocol draws `params.trials` trials from `dataset.eval_root` with
`Rng(seed, "trials")` (trials.py); Lake's protocol reads the 20 runs of `params.runs`. It
writes `predictions.tsv` and reports `accuracy`, `error_pct`, `trials` and `trials_per_s`
(trials over the seconds spent embedding and scoring, decoding excluded), and where `task_s`
went: `setup_s` (the scorer built: the framework imported, the network and its weights),
`draw_s` (the trials drawn or Lake's runs read), `load_s` (each distinct image decoded),
`warmup_s` (the untimed warm-up calls), `embed_s`, `score_s`; the rest is writing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from oneshot_common.errors import InputError, TaskError
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import EvaluateParams
from oneshot_common.tasks import Outcome
from oneshot_common.trials import TrialSet

PREDICTIONS_FILE = "predictions.tsv"
PREDICTIONS_HEADER = "trial\tquery\tpredicted\tanswer\tcorrect"
NO_PREDICTION = "-"  # the `predicted` cell of a trial without a unique best candidate
SCORE_CHUNK_TRIALS = 20  # trials scored between two progress reports

Index = npt.NDArray[np.intp]
Scores = npt.NDArray[np.float64]


class Scorer(Protocol):
    """Embeds images once, then scores pairs of them by index (larger = more similar)."""

    name: str

    def embed(self, images: npt.NDArray[np.uint8]) -> Any:
        """Packed images [M, 1379] -> embeddings, indexable by image index."""
        ...

    def similarity(self, embeddings: Any, queries: Index, candidates: Index) -> Scores:
        """Score of image `queries[i]` against image `candidates[i]`, for each i -> [P]."""
        ...


@dataclass(frozen=True)
class OneShotOutcome:
    """Scores and verdicts of a trial set."""

    scores: Scores  # [T, N]
    predicted: Index  # [T] position of the unique best candidate, -1 when there is none
    correct: npt.NDArray[np.bool_]  # [T]
    embed_s: float
    score_s: float
    first_batch_s: float | None = None  # the first embedding call, when the scorer warms up
    warmup_s: float = 0.0  # the untimed warm-up calls before embed_s

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.correct) else 0.0


def judge(scores: Scores, answers: Index) -> tuple[Index, npt.NDArray[np.bool_]]:
    """The unique best candidate of each trial (-1 on a tie or a NaN) and whether it is right."""
    best = scores.max(axis=1)  # NaN if any score is NaN
    at_best = scores == best[:, None]
    unique = at_best.sum(axis=1) == 1
    predicted = np.where(unique, scores.argmax(axis=1), -1).astype(np.intp)
    return predicted, predicted == answers


def score_trials(
    scorer: Scorer, trials: TrialSet, progress: Callable[[int, int], None] | None = None
) -> OneShotOutcome:
    """Embed each distinct image once, score every (query, candidate) pair, judge each trial.

    A scorer with a `warm_up(images)` method runs it first, outside the timed sections."""
    warm_up = getattr(scorer, "warm_up", None)
    warming = time.perf_counter()
    first_batch_s = warm_up(trials.images) if warm_up is not None else None
    began = time.perf_counter()
    warmup_s = began - warming if first_batch_s is not None else 0.0  # 0: no warm-up calls
    embeddings = scorer.embed(trials.images)
    embedded = time.perf_counter()
    if first_batch_s is None:  # no warm-up calls: the first timed call is the cold one
        first_batch_s = getattr(scorer, "first_call_s", None)
    count, ways = len(trials), trials.ways
    scores = np.empty((count, ways), dtype=np.float64)
    for start in range(0, count, SCORE_CHUNK_TRIALS):
        stop = min(start + SCORE_CHUNK_TRIALS, count)
        queries = np.repeat(trials.queries[start:stop], ways)
        candidates = trials.candidates[start:stop].reshape(-1)
        scores[start:stop] = scorer.similarity(embeddings, queries, candidates).reshape(-1, ways)
        if progress is not None:
            progress(stop, count)
    scored = time.perf_counter()
    predicted, correct = judge(scores, trials.answers)
    return OneShotOutcome(
        scores,
        predicted,
        correct,
        embedded - began,
        scored - embedded,
        first_batch_s,
        warmup_s,
    )


def evaluate_one_shot(scorer: Scorer, trials: TrialSet) -> float:
    """Fraction of trials whose right candidate has strictly the highest score."""
    return score_trials(scorer, trials).accuracy


def run_error_pct(trials: TrialSet, outcome: OneShotOutcome) -> list[float]:
    """Lake's error per run, `100 * wrong / trials` of the run (one rounding), runs in order."""
    errors = []
    for run in np.unique(trials.runs):
        hits = outcome.correct[trials.runs == run]
        errors.append(100.0 * int((~hits).sum()) / len(hits))
    return errors


def format_predictions(trials: TrialSet, outcome: OneShotOutcome) -> str:
    """predictions.tsv: trial, query, predicted (or `-`), answer, correct (1/0)."""
    paths = trials.paths
    lines = [PREDICTIONS_HEADER]
    for t in range(len(trials)):
        row = trials.candidates[t]
        guess = int(outcome.predicted[t])
        predicted = paths[row[guess]] if guess >= 0 else NO_PREDICTION
        answer = paths[row[trials.answers[t]]]
        query = paths[trials.queries[t]]
        lines.append(f"{t}\t{query}\t{predicted}\t{answer}\t{int(outcome.correct[t])}")
    return "\n".join(lines) + "\n"


def check_evaluate(job: Job) -> EvaluateParams:
    """The cross-field checks of `evaluate`; returns its params."""
    params: EvaluateParams = job.params
    if params.protocol == "koch" and job.dataset.eval_root is None:
        raise InputError(
            "dataset.eval_root: null, expected the evaluation alphabets' folder for protocol: koch"
        )
    if params.protocol == "lake" and params.runs is None:
        raise InputError("params.runs: missing, expected the all_runs folder for protocol: lake")
    if params.scorer == "siamese":
        if job.model is None:
            raise InputError("model: null, expected the network shape for scorer: siamese")
        if job.inputs.weights is None:
            raise InputError("inputs.weights: null, expected a weights file for scorer: siamese")
    return params


def build_trials(job: Job, params: EvaluateParams, events: Events) -> tuple[TrialSet, float, float]:
    """The trial set with the seconds spent drawing it (scanning `dataset.eval_root` and drawing
    Koch's trials, or reading Lake's runs) and loading it (decoding each distinct image once)."""
    from oneshot_common.rng import Rng
    from oneshot_common.sampling import scan_dataset
    from oneshot_common.trials import draw_koch_trials, load_trials, read_lake_runs

    def progress(done: int, total: int) -> None:
        events.progress(done, total, "images")

    began = time.perf_counter()
    if params.protocol == "lake":
        assert params.runs is not None  # check_evaluate
        root = params.runs
        drawn: Sequence[Any] = read_lake_runs(root, params.ways)
    else:
        assert job.dataset.eval_root is not None  # check_evaluate
        root = job.dataset.eval_root
        dataset = scan_dataset(root)
        skipped = sum(1 for size in dataset.alphabet_size if size < params.ways)
        if skipped:
            print(
                f"evaluate: {skipped} alphabet(s) of {root} have fewer than {params.ways} "
                "characters and are skipped",
                file=sys.stderr,
            )
        drawn = draw_koch_trials(dataset, params.ways, params.trials, Rng(job.seed, "trials"))
    drawn_at = time.perf_counter()
    trials = load_trials(root, drawn, progress)
    return trials, drawn_at - began, time.perf_counter() - drawn_at


NetworkScorer = Callable[[Job, EvaluateParams, Events], Scorer]


def make_scorer(
    job: Job, params: EvaluateParams, events: Events, network_scorer: NetworkScorer
) -> Scorer:
    """The scorer named by `params.scorer`: MHD, or the implementation's network scorer (the
    network of `model` with `inputs.weights`, which check_evaluate required)."""
    if params.scorer == "mhd":
        from oneshot_common.mhd import MhdScorer

        return MhdScorer()
    return network_scorer(job, params, events)


def run_evaluate(job: Job, events: Events, network_scorer: NetworkScorer) -> Outcome:
    """`evaluate`: one-shot accuracy by Koch's or Lake's protocol; writes predictions.tsv.

    `network_scorer(job, params, events)` builds the implementation's siamese scorer (a
    `Scorer`, optionally with `warm_up(images) -> first call's seconds` and
    `task_metrics(outcome, images) -> {name: value}` for the task's metrics: netscorer.py)."""
    task_start = time.perf_counter()
    params = check_evaluate(job)
    scorer = make_scorer(job, params, events, network_scorer)
    setup_s = time.perf_counter() - task_start
    with events.phase("load"):
        trials, draw_s, load_s = build_trials(job, params, events)
    with events.phase("evaluate"):
        outcome = score_trials(
            scorer, trials, lambda done, total: events.progress(done, total, "trials")
        )
    accuracy = outcome.accuracy
    metrics: dict[str, Any] = {"accuracy": accuracy, "trials": len(trials)}
    if params.protocol == "lake":
        errors = run_error_pct(trials, outcome)
        metrics["error_pct"] = sum(errors) / len(errors)
        metrics["run_error_pct"] = errors
    else:
        metrics["error_pct"] = 100.0 * int((~outcome.correct).sum()) / len(trials)
    events.metric("accuracy", accuracy)
    with events.phase("write"):
        path = os.path.join(job.out_dir, PREDICTIONS_FILE)
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(format_predictions(trials, outcome))
        except OSError as exc:
            raise TaskError(f"{path}: cannot write the predictions ({exc.strerror})") from None
    evaluate_s = outcome.embed_s + outcome.score_s
    metrics.update(
        {
            "images": len(trials.paths),
            "setup_s": setup_s,
            "draw_s": draw_s,
            "load_s": load_s,
            "warmup_s": outcome.warmup_s,
            "embed_s": outcome.embed_s,
            "score_s": outcome.score_s,
            "trials_per_s": len(trials) / evaluate_s if evaluate_s > 0 else 0.0,
            "task_s": time.perf_counter() - task_start,
        }
    )
    if outcome.first_batch_s is not None:
        metrics["first_batch_s"] = outcome.first_batch_s
    extra = getattr(scorer, "task_metrics", None)  # e.g. compile_s (python-jax, torch-compile)
    if extra is not None:
        metrics.update(extra(outcome, len(trials.paths)))
    return Outcome(metrics=metrics, outputs={"predictions": PREDICTIONS_FILE})
