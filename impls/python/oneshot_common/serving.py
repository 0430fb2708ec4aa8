"""The `serve` task, one loop for every Python implementation (docs/protocol.md, "`serve`").

`run_serve(job, events, build)` serves 20-way one-shot recognition one query at a time, as a
deployed model answers them, around a `ServingNetwork` (network.py) that `build(job)` makes:

1. setup (`setup_s`): `build` (the framework imported, the weights read, the network built)
   and `ServingNetwork.prepare_serving(ways)` (what a call of `ways` images, of one image and
   the head need: python-jax compiles them ahead, python-torch-compile compiles them on blank
   images; the cold start shows it);
2. `load` phase: the episodes drawn (`Rng(seed, "episodes")`, episodes.py) or read (Lake) and
   every image of them decoded, bit-packed, before the first query (`load_s`);
3. `serve` phase: `1 + warmup_queries + queries` queries, query q being query `q mod Q` of the
   episodes' queries laid end to end. Whenever the next query belongs to another episode than
   the one enrolled, the episode's support images are embedded in one call (`enrol`, timed
   apart in `enrol_s`) right after the previous answer, before the next arrival is waited for.
   A query is its packed image: `ServingNetwork.query` unpacks it, embeds it in a call of one
   image and scores it against the cached support embeddings with the head; the answer is the
   strict argmax of those logits as a Python int (a tie or a NaN: no answer, `-`). Its latency
   runs from its arrival to that int, but never from before the latest enrolment ended: a
   Poisson query that arrives during an enrolment counts from the enrolment's end (and still
   waits for the queries ahead of it), so no enrolment is part of any query's latency.
   Arrivals: `back_to_back` (the moment the previous answer and any enrolment are done) or
   `poisson`: the schedule starts when the cold query is answered (and any enrolment done),
   query q arrives `gap_1 + ... + gap_q` later, `gap_i = -ln(1 - u_i) / rate_per_s`, `u_i` the
   uniforms of `Rng(seed, "arrivals")`. The program sleeps (`time.sleep`, never spins) until an
   arrival; over the measured queries it sums the idle wall seconds and the process's CPU
   seconds during them (`time.process_time()`, every thread), read at each sleep's start and
   end. The event `first_answer` (seconds since the program started) goes out the moment the
   cold answer exists; `steady_rss_bytes` is VmRSS right after the warm-up queries.
4. `write` phase: `serve.tsv` (one line per query) and `episodes.tsv` (episodes.py).

Clock: `time.perf_counter()`. Metrics: docs/protocol.md's list, then the network's own
(`ServingNetwork.serving_metrics`: threads, compile time).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oneshot_common.episodes import EpisodeSet, format_episodes
from oneshot_common.errors import InputError, TaskError
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.network import Floats, ServingNetwork
from oneshot_common.params import ServeParams
from oneshot_common.tasks import Outcome

SERVE_FILE = "serve.tsv"
EPISODES_FILE = "episodes.tsv"
SERVE_HEADER = "query\tepisode\tindex\tphase\tarrival_s\tlatency_s\tpredicted\tanswer\tcorrect"
NO_ANSWER = "-"
PERCENTILES = (50, 90, 99)  # latency_p50_s, latency_p90_s, latency_p99_s

BuildNetwork = Callable[[Job], ServingNetwork]


def numpy_head(weight: Floats, bias: float, query: Floats, support: Floats) -> Floats:
    """The head `out(|e_query - e_k|)` in float32 for engines that compute it on the host:
    `weight` out.weight [1, E] or [E], `bias` out.bias[0], `query` [1, E] or [E], `support`
    [ways, E] -> logits [ways]."""
    logits: Floats = np.abs(support - query.reshape(1, -1)) @ weight.reshape(-1) + np.float32(bias)
    return logits


def strict_argmax(scores: Floats) -> int:
    """The position of the strictly highest score; -1 on a tie or a NaN (no answer)."""
    best = scores.max()
    if best != best or np.count_nonzero(scores == best) != 1:
        return -1
    return int(scores.argmax())


def arrival_offsets(seed: int, rate_per_s: float, count: int) -> list[float]:
    """Poisson arrival times of queries 1 .. count - 1 after the schedule's start: offset q =
    gap_1 + ... + gap_q, `gap_i = -ln(1 - u_i) / rate_per_s` (`Rng(seed, "arrivals")`);
    offset 0 (the cold query) is 0."""
    from oneshot_common.rng import Rng

    rng = Rng(seed, "arrivals")
    offsets, total = [0.0], 0.0
    for _ in range(1, count):
        total += -math.log(1.0 - rng.uniform()) / rate_per_s
        offsets.append(total)
    return offsets


def vm_rss_bytes() -> int | None:
    """The process's resident set (`VmRSS` of /proc/self/status), or None where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def nearest_rank(ascending: Sequence[float], percent: int) -> float:
    """The value at rank ceil(percent/100 * n) of ascending values (integer arithmetic)."""
    rank = max(1, -(-percent * len(ascending) // 100))
    return ascending[rank - 1]


@dataclass
class ServeLog:
    """What the loop measured, one entry per query."""

    episode: list[int] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)  # seconds after the first arrival
    latency: list[float] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)  # -1: no answer
    answer: list[int] = field(default_factory=list)
    enrol_s: list[float] = field(default_factory=list)
    first_answer_s: float = 0.0
    steady_rss_bytes: int | None = None
    idle_wall_s: float = 0.0
    idle_cpu_s: float = 0.0


def query_sequence(episodes: EpisodeSet) -> list[tuple[int, int]]:
    """(episode, index in it) of the episodes' queries laid end to end."""
    return [(e, k) for e, rows in enumerate(episodes.query_rows) for k in range(len(rows))]


def serve_queries(
    network: ServingNetwork, episodes: EpisodeSet, params: ServeParams, seed: int, events: Events
) -> ServeLog:
    """The query loop (module docstring, 3.): every query enrolled, awaited, answered, timed."""
    sequence = query_sequence(episodes)
    images = episodes.images
    query_images = [images[r : r + 1] for rows in episodes.query_rows for r in rows]
    answers = [a for episode in episodes.episodes for a in episode.answers]
    supports = [images[rows] for rows in episodes.support_rows]
    total, warmup = 1 + params.warmup_queries + params.queries, params.warmup_queries
    poisson = params.arrival == "poisson"
    offsets = arrival_offsets(seed, params.rate_per_s, total) if poisson else []
    clock, cpu_clock, sleep = time.perf_counter, time.process_time, time.sleep
    log, enrolled, support, first_arrival, schedule = ServeLog(), -1, None, 0.0, 0.0
    ready = 0.0  # the end of the latest enrolment: no latency starts before it
    with network.embedding():
        for q in range(total):
            flat = q % len(sequence)
            episode = sequence[flat][0]
            if episode != enrolled:
                began = clock()
                support = network.enrol(supports[episode])
                ready = clock()
                log.enrol_s.append(ready - began)
                enrolled = episode
            if q == 0:
                arrival = first_arrival = clock()
            elif poisson:
                if q == 1:
                    schedule = clock()  # the cold query answered, any enrolment done
                arrival = schedule + offsets[q]
                now = clock()
                if arrival > now:
                    cpu = cpu_clock()
                    while (left := arrival - clock()) > 0.0:
                        sleep(left)
                    if q > warmup:
                        log.idle_cpu_s += cpu_clock() - cpu
                        log.idle_wall_s += clock() - now
            else:
                arrival = clock()
            scores = network.query(support, query_images[flat])
            predicted = strict_argmax(scores)
            answered = clock()
            log.latency.append(answered - max(arrival, ready))
            if q == 0:
                log.first_answer_s = events.elapsed_s()
                events.metric("first_answer", log.first_answer_s)
            if q == warmup:
                log.steady_rss_bytes = vm_rss_bytes()
            log.arrival.append(arrival - first_arrival)
            log.episode.append(episode)
            log.index.append(sequence[flat][1])
            log.predicted.append(predicted)
            log.answer.append(answers[flat])
            events.progress(q + 1, total, "queries")
    return log


def format_serve(log: ServeLog, warmup: int) -> str:
    """serve.tsv: one line per query (SERVE_HEADER's columns)."""
    lines = [SERVE_HEADER]
    for q, latency in enumerate(log.latency):
        phase = "cold" if q == 0 else "warmup" if q <= warmup else "measured"
        guess = log.predicted[q]
        answer = log.answer[q]
        shown = str(guess) if guess >= 0 else NO_ANSWER
        lines.append(
            f"{q}\t{log.episode[q]}\t{log.index[q]}\t{phase}\t{log.arrival[q]!r}\t{latency!r}"
            f"\t{shown}\t{answer}\t{int(guess == answer)}"
        )
    return "\n".join(lines) + "\n"


def serve_metrics(log: ServeLog, params: ServeParams, episodes: int) -> dict[str, Any]:
    """The measured queries' figures (docs/protocol.md's metrics of `serve`)."""
    first = 1 + params.warmup_queries
    measured = log.latency[first:]
    right = sum(1 for p, a in zip(log.predicted[first:], log.answer[first:], strict=True) if p == a)
    ascending = sorted(measured)
    metrics: dict[str, Any] = {
        "queries": len(measured),
        "episodes": episodes,
        "accuracy": right / len(measured),
        **{f"latency_p{p}_s": nearest_rank(ascending, p) for p in PERCENTILES},
        "latency_max_s": ascending[-1],
        "queries_per_s": len(measured) / sum(measured) if sum(measured) > 0 else 0.0,
        "cold_query_s": log.latency[0],
        "first_answer_s": log.first_answer_s,
        "enrol_s": log.enrol_s,
    }
    if log.steady_rss_bytes is not None:
        metrics["steady_rss_bytes"] = log.steady_rss_bytes
    if params.arrival == "poisson":
        metrics["idle_wall_s"] = log.idle_wall_s
        metrics["idle_cpu_s"] = log.idle_cpu_s
    return metrics


def check_serve(job: Job) -> ServeParams:
    """The cross-field checks of `serve`; returns its params."""
    params: ServeParams = job.params
    if params.protocol == "koch" and job.dataset.eval_root is None:
        raise InputError(
            "dataset.eval_root: null, expected the evaluation alphabets' folder for protocol: koch"
        )
    if params.protocol == "lake" and params.runs is None:
        raise InputError("params.runs: missing, expected the all_runs folder for protocol: lake")
    if job.model is None:
        raise InputError("model: null, expected the network shape for serve")
    if job.inputs.weights is None:
        raise InputError("inputs.weights: null, expected a weights file for serve")
    return params


def build_episodes(job: Job, params: ServeParams, events: Events) -> tuple[EpisodeSet, float]:
    """The episodes with every image decoded, and the seconds the decoding took."""
    from oneshot_common.episodes import draw_koch_episodes, lake_episodes, load_episodes
    from oneshot_common.rng import Rng
    from oneshot_common.sampling import scan_dataset

    if params.protocol == "lake":
        assert params.runs is not None  # check_serve
        root, drawn = params.runs, lake_episodes(params.runs, params.ways)
    else:
        assert job.dataset.eval_root is not None  # check_serve
        root = job.dataset.eval_root
        rng = Rng(job.seed, "episodes")
        drawn = draw_koch_episodes(scan_dataset(root), params.ways, params.episodes, rng)
    began = time.perf_counter()
    episodes = load_episodes(root, drawn, lambda done, n: events.progress(done, n, "images"))
    return episodes, time.perf_counter() - began


def _write(path: str, text: str, what: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise TaskError(f"{path}: cannot write the {what} ({exc.strerror})") from None


def run_serve(job: Job, events: Events, build: BuildNetwork) -> Outcome:
    """`serve` (module docstring) with the network `build(job)` makes; writes serve.tsv and
    episodes.tsv."""
    task_start = time.perf_counter()
    params = check_serve(job)
    network = build(job)
    network.prepare_serving(params.ways)
    setup_s = time.perf_counter() - task_start
    with events.phase("load"):
        episodes, load_s = build_episodes(job, params, events)
    with events.phase("serve"):
        log = serve_queries(network, episodes, params, job.seed, events)
    metrics = serve_metrics(log, params, len(episodes.episodes))
    events.metric("accuracy", metrics["accuracy"])
    with events.phase("write"):
        serve_path = os.path.join(job.out_dir, SERVE_FILE)
        _write(serve_path, format_serve(log, params.warmup_queries), "serve log")
        episodes_path = os.path.join(job.out_dir, EPISODES_FILE)
        _write(episodes_path, format_episodes(episodes.episodes), "episodes")
    metrics.update({"setup_s": setup_s, "load_s": load_s})
    metrics.update(network.serving_metrics())
    metrics["task_s"] = time.perf_counter() - task_start
    return Outcome(metrics=metrics, outputs={"serve": SERVE_FILE, "episodes": EPISODES_FILE})
