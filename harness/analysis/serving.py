"""The `serve` task's figures (docs/protocol.md, "`serve`"; docs/reports.md, "Serving").

Per implementation and `serve` task, over its measured runs (`serving[]` of results.json):

- **Latency percentiles** p50, p90 and p99 of the pooled measured queries (every measured
  run's `serve.tsv`), nearest rank, each with its one-sided upper confidence bound: the order
  statistic x(k) with the smallest k such that P(Binomial(n, q) <= k - 1) >= `CONFIDENCE`, so
  that the true q-quantile lies at or below x(k) with that confidence. This is the rule of
  MLPerf Inference's early stopping: a percentile needs enough queries for its bound to exist
  (p99 at 99% needs 459), and with fewer the bound is absent and `queries_needed` says how many.
- **Cold start**: the harness's arrival time of the `first_answer` event (exec to the first
  answer, launcher start included), the median over runs; the cold query's own latency, a
  warm enrolment, `setup_s`.
- **Footprint**: `steady_rss_bytes` (the program's own VmRSS after its warm-up), the exact peak
  RSS from the kernel, the idle CPU (CPU seconds per idle second between Poisson arrivals), and
  the ship size: the regular files the job mapped at its first answer (the runner's
  `mapped.tsv`: executable, shared libraries, memory-mapped weights), and the executable
  stripped (for Python the interpreter: its code lives in the libraries and modules).
- **Answers**: each implementation's answers against float64 (reference64.py): the episodes'
  images embedded in float64 with the job's weights, every query scored against its episode's
  support images with the head, the strict argmax. A query whose float64 margin (best logit
  minus the second) is at most `TIE_MARGIN * max(1, |best|)` is a near-tie: a different answer
  there is excused (float32 rounding can decide it either way). Any other difference is a
  disagreement; the serving figures of an implementation with one do not count
  (`agrees: false`, and the report says so). Every implementation must also have drawn the
  baseline's episodes (`episodes.tsv` byte-identical), or its answers are not comparable.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import reference64
from harness.process.runner import MAPPED_FILE, read_event_log, read_mapped
from harness.results import Check, LatencyQuantile, Measurement, Results, Run, Serving

QUANTILES = (0.5, 0.9, 0.99)
CONFIDENCE = 0.99
TIE_MARGIN = 1e-3
SERVE_FILE = "serve.tsv"
EPISODES_FILE = "episodes.tsv"


# --- percentiles ------------------------------------------------------------------------------


def nearest_rank(sorted_values: list[float], q: float) -> float:
    """The nearest-rank q-quantile of ascending values: the value at rank ceil(q * n)."""
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


def upper_rank(n: int, q: float, confidence: float = CONFIDENCE) -> int | None:
    """The smallest rank k (1-based) with P(Binomial(n, q) <= k - 1) >= confidence: x(k) bounds
    the true q-quantile from above with that confidence. None when even x(n) does not.
    scipy.stats is imported here: it costs about 0.5 s of start-up (stats.py)."""
    from scipy import stats as sps  # type: ignore[import-untyped]

    k = int(sps.binom.ppf(confidence, n, q)) + 1
    while k > 1 and sps.binom.cdf(k - 2, n, q) >= confidence:
        k -= 1
    while k <= n and sps.binom.cdf(k - 1, n, q) < confidence:
        k += 1
    return k if k <= n else None


def queries_needed(q: float, confidence: float = CONFIDENCE) -> int:
    """The fewest queries for which the q-quantile's upper bound exists (x(n): 1 - q^n >= c)."""
    return math.ceil(math.log(1 - confidence) / math.log(q))


def quantiles(latencies: Iterable[float]) -> list[LatencyQuantile]:
    values = sorted(latencies)
    out = []
    for q in QUANTILES:
        k = upper_rank(len(values), q)
        out.append(
            LatencyQuantile(
                q=q,
                value_s=nearest_rank(values, q),
                upper_s=None if k is None else values[k - 1],
                queries_needed=None if k is not None else queries_needed(q),
            )
        )
    return out


# --- one run's files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    query: int
    episode: int
    index: int
    phase: str
    latency_s: float
    predicted: int | None
    answer: int


def read_serve(path: Path) -> list[Answer]:
    """`serve.tsv` of one run (docs/protocol.md); ValueError naming the file when malformed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = "query\tepisode\tindex\tphase\tarrival_s\tlatency_s\tpredicted\tanswer\tcorrect"
    if not lines or lines[0] != header:
        raise ValueError(f"{path}: expected the header {header!r}")
    out = []
    for line in lines[1:]:
        f = line.split("\t")
        if len(f) != 9:
            raise ValueError(f"{path}: expected 9 columns, got {line!r}")
        predicted = None if f[6] == "-" else int(f[6])
        out.append(Answer(int(f[0]), int(f[1]), int(f[2]), f[3], float(f[5]), predicted, int(f[7])))
    return out


def cold_start_s(run_dir: Path) -> float | None:
    """The harness's arrival time of the job's `first_answer` event (exec to first answer)."""
    for event in read_event_log(run_dir / "events.jsonl"):
        if event.get("event") == "metric" and event.get("name") == "first_answer":
            return float(event["t_harness_s"])
    return None


def _median(values: Iterable[Any]) -> float | None:
    found = [float(v) for v in values if isinstance(v, int | float)]
    return statistics.median(found) if found else None


# --- the float64 referee ----------------------------------------------------------------------


@dataclass(frozen=True)
class Referee:
    """float64 answers per (episode, index) of the queries: the answer (None on an exact tie)
    and its margin over the second-best logit."""

    answers: Mapping[tuple[int, int], tuple[int | None, float, float]]


def read_episodes(path: Path) -> tuple[dict[int, list[str]], dict[tuple[int, int], str]]:
    """`episodes.tsv`: (support paths per episode in position order, query path per
    (episode, index))."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "episode\trole\tindex\tpath\tanswer":
        raise ValueError(f"{path}: expected the header 'episode\\trole\\tindex\\tpath\\tanswer'")
    support: dict[int, dict[int, str]] = {}
    queries: dict[tuple[int, int], str] = {}
    for line in lines[1:]:
        episode, role, index, rel, _ = line.split("\t")
        if role == "support":
            support.setdefault(int(episode), {})[int(index)] = rel
        else:
            queries[(int(episode), int(index))] = rel
    return {e: [s[i] for i in sorted(s)] for e, s in support.items()}, queries


def referee(job_dir: Path) -> Referee:
    """The float64 answers of a serve job's episodes, from its own weights and images."""
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    params = job["params"]
    root = Path(params["runs"] if params.get("protocol") == "lake" else job["dataset"]["eval_root"])
    model = reference64.Model.of(job["model"])
    weights_path = job["inputs"]["weights"]
    if not weights_path:
        raise reference64.ReferenceUnavailable("the job has no weights")
    from safetensors.numpy import load_file

    w = reference64._weights(load_file(weights_path), np.float64)
    support, queries = read_episodes(job_dir / EPISODES_FILE)
    paths = sorted({p for s in support.values() for p in s} | set(queries.values()))
    row = {p: i for i, p in enumerate(paths)}
    embeddings = np.concatenate(
        [
            reference64.tower(
                w,
                reference64.network_input(
                    np.stack([reference64.read_image(root / p) for p in paths[i : i + 32]]),
                    model.input,
                ),
            )
            for i in range(0, len(paths), 32)
        ]
    )
    head_w, head_b = w["out.weight"][0], float(w["out.bias"][0])
    answers: dict[tuple[int, int], tuple[int | None, float, float]] = {}
    for (episode, index), query in queries.items():
        cands = embeddings[[row[p] for p in support[episode]]]
        logits = np.abs(embeddings[row[query]] - cands) @ head_w + head_b
        order = np.argsort(-logits)
        best, second = float(logits[order[0]]), float(logits[order[1]])
        answers[(episode, index)] = (None if best == second else int(order[0]), best - second, best)
    return Referee(answers)


def judge_answers(answers: list[Answer], ref: Referee) -> tuple[list[Answer], int]:
    """(the answers that disagree with float64 beyond a near-tie, the near-ties excused)."""
    wrong, excused = [], 0
    for a in answers:
        expected, margin, best = ref.answers[(a.episode, a.index)]
        if a.predicted == expected:
            continue
        if margin <= TIE_MARGIN * max(1.0, abs(best)):
            excused += 1
        else:
            wrong.append(a)
    return wrong, excused


# --- the analysis -----------------------------------------------------------------------------


def stripped_size(executables: list[str]) -> int | None:
    """The executables' size stripped of symbols and debug sections (`strip --strip-all` to a
    temporary copy; the files themselves are left as built), None without `strip`."""
    total = 0
    for exe in executables:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "stripped"
            try:
                subprocess.run(
                    ["strip", "--strip-all", "-o", str(out), exe],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                total += out.stat().st_size
            except (OSError, subprocess.SubprocessError):
                return None
    return total if executables else None


def serve_measurements(results: Results) -> list[Measurement]:
    return [m for m in results.measurements if m.task == "serve"]


def _first_measured(m: Measurement) -> Run | None:
    return next((r for r in m.runs if r.measured), None)


def answers_checks(results: Results, run_dir: Path) -> tuple[list[Check], dict[Any, Any]]:
    """One `answers` check per implementation and serve task, against float64; and the
    verdicts {(impl, task_index, point): (agrees, disagreements, excused)} for `serving[]`."""
    checks: list[Check] = []
    verdicts: dict[Any, Any] = {}
    cache: dict[str, Referee | str] = {}
    by_task: dict[tuple[int, int | None], list[Measurement]] = {}
    for m in serve_measurements(results):
        by_task.setdefault((m.task_index, m.point), []).append(m)
    for (task_index, point), ms in by_task.items():
        base_run = _first_measured(ms[0])
        base_episodes = (
            (run_dir / base_run.dir / EPISODES_FILE).read_bytes()
            if base_run is not None and (run_dir / base_run.dir / EPISODES_FILE).is_file()
            else None
        )
        for m in ms:
            check = _answers_check(m, run_dir, base_episodes, cache)
            checks.append(check.model_copy(update={"task_index": task_index, "point": point}))
            if check.value is not None:
                verdicts[(m.impl, task_index, point)] = (
                    check.ok,
                    int(check.value),
                    int(check.tolerance or 0),
                )
    return checks, verdicts


def _answers_check(
    m: Measurement, run_dir: Path, base_episodes: bytes | None, cache: dict[str, Referee | str]
) -> Check:
    def result(ok: bool, detail: str, value: int | None = None, excused: int = 0) -> Check:
        # `tolerance` carries the near-ties excused: the check allows no disagreement beyond them
        return Check(
            name="answers",
            task_index=m.task_index,
            impls=[m.impl, "float64"],
            value=value,
            tolerance=excused if value is not None else None,
            ok=ok,
            detail=detail,
        )

    run = _first_measured(m)
    if run is None:
        return result(False, f"{m.impl} has no measured run")
    job_dir = run_dir / run.dir
    try:
        episodes = (job_dir / EPISODES_FILE).read_bytes()
        answers = read_serve(job_dir / SERVE_FILE)
    except (OSError, ValueError) as e:
        return result(False, f"{m.impl}'s serve outputs are unreadable: {e}")
    if base_episodes is not None and episodes != base_episodes:
        return result(False, f"{m.impl} drew other episodes than the baseline ({EPISODES_FILE})")
    weights = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))["inputs"]["weights"]
    key = hashlib.sha256(episodes + str(weights).encode()).hexdigest()
    if key not in cache:
        try:
            cache[key] = referee(job_dir)
        except (reference64.ReferenceUnavailable, OSError, KeyError, ValueError) as e:
            cache[key] = str(e)
    ref = cache[key]
    if isinstance(ref, str):
        return result(True, f"float64 referee skipped: {ref}")
    try:
        wrong, excused = judge_answers(answers, ref)
    except KeyError as e:
        return result(False, f"{m.impl} answered a query of no episode: {e}")
    named = ", ".join(
        f"query {a.query} (episode {a.episode}, index {a.index}): "
        f"{'-' if a.predicted is None else a.predicted} vs float64 "
        f"{ref.answers[(a.episode, a.index)][0]}"
        for a in wrong[:3]
    )
    detail = (
        f"{len(answers) - len(wrong) - excused} of {len(answers)} answers as float64's, "
        f"{excused} near-ties excused" + (f"; {len(wrong)} disagree: {named}" if wrong else "")
    )
    return result(not wrong, detail, len(wrong), excused)


def task_key(results: Results, index: int, key: str, default: str) -> str:
    """A harness key of task `index` as the config was written (e.g. `page_cache`)."""
    tasks = results.config.get("tasks")
    if not isinstance(tasks, list) or index >= len(tasks) or not isinstance(tasks[index], dict):
        return default
    params = next(iter(tasks[index].values()), None)
    return str(params.get(key, default)) if isinstance(params, dict) else default


def summarize(results: Results, run_dir: Path, verdicts: Mapping[Any, Any]) -> list[Serving]:
    """`serving[]`: one record per implementation and serve task (see the module docstring)."""
    out = []
    threads = int(results.config.get("threads", 2))
    for m in serve_measurements(results):
        runs = [r for r in m.runs if r.measured]
        if not runs:
            continue
        latencies: list[float] = []
        cold_queries, enrols, accuracy = [], [], []
        for r in runs:
            try:
                answers = read_serve(run_dir / r.dir / SERVE_FILE)
            except (OSError, ValueError):
                continue
            measured = [a for a in answers if a.phase == "measured"]
            latencies += [a.latency_s for a in measured]
            cold_queries += [a.latency_s for a in answers if a.phase == "cold"]
            if measured:
                accuracy.append(sum(a.predicted == a.answer for a in measured) / len(measured))
            enrol = r.metrics.get("enrol_s")
            if isinstance(enrol, list) and len(enrol) > 1:
                enrols += enrol[1:]
        if not latencies:
            continue
        lat = quantiles(latencies)
        idle_cpu = sum(float(r.metrics.get("idle_cpu_s", 0.0)) for r in runs)
        idle_wall = sum(float(r.metrics.get("idle_wall_s", 0.0)) for r in runs)
        # the first run whose maps were listed (a job can end before the runner reads them)
        listed = (read_mapped(run_dir / r.dir / MAPPED_FILE) for r in runs)
        mapped = next((found for found in listed if found), {})
        agrees = verdicts.get((m.impl, m.task_index, m.point))
        page_cache = task_key(results, m.task_index, "page_cache", "warm")
        evicted = sum(r.evicted_bytes or 0 for r in runs)
        out.append(
            Serving(
                task_index=m.task_index,
                impl=m.impl,
                point=m.point,
                arrival=str(m.params.get("arrival", "back_to_back")),
                threads=threads,
                page_cache=page_cache,
                resident_share=(
                    sum(r.resident_bytes or 0 for r in runs) / evicted if evicted else None
                ),
                runs=len(runs),
                queries=len(latencies),
                latency=lat,
                latency_max_s=max(latencies),
                p99_over_p50=lat[2].value_s / lat[0].value_s if lat[0].value_s > 0 else None,
                cold_start_s=_median(cold_start_s(run_dir / r.dir) for r in runs),
                cold_query_s=_median(cold_queries),
                enrol_s=_median(enrols),
                setup_s=_median(r.metrics.get("setup_s") for r in runs),
                steady_rss_bytes=_median(r.metrics.get("steady_rss_bytes") for r in runs),
                peak_rss_bytes=statistics.median(r.peak_rss_bytes for r in runs),
                idle_cpu_fraction=idle_cpu / idle_wall if idle_wall > 0 else None,
                ship_bytes=sum(size for size, _ in mapped.values()) if mapped else None,
                ship_files=len(mapped) if mapped else None,
                executable_bytes=stripped_size([p for p, (_, exe) in mapped.items() if exe]),
                accuracy=_median(accuracy),
                agrees=None if agrees is None else agrees[0],
                disagreements=None if agrees is None else agrees[1],
                ties_excused=None if agrees is None else agrees[2],
            )
        )
    return out
