"""The serve task's analysis (harness/analysis/serving.py): percentiles and their confidence
bounds, the files of a run, the float64 referee of the answers, and the runner's list of the
files a job maps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file
from scipy import stats as sps

from harness.analysis import reference64, serving
from harness.analysis.verdicts import serving_sentences
from harness.errors import HarnessError
from harness.process.runner import mapped_files, read_mapped, write_mapped
from harness.results import LatencyQuantile, Serving
from harness.run.config import from_dict
from tests.harness.fakerun import complete_results
from tests.harness.test_reference64 import TINY, random_weights

HEADER = "query\tepisode\tindex\tphase\tarrival_s\tlatency_s\tpredicted\tanswer\tcorrect"


@given(st.integers(1, 3000), st.sampled_from([0.5, 0.9, 0.99]))
@settings(max_examples=60, deadline=None)
def test_upper_rank_is_the_smallest_order_statistic_with_the_confidence(n: int, q: float) -> None:
    k = serving.upper_rank(n, q)
    if k is None:
        assert sps.binom.cdf(n - 1, n, q) < serving.CONFIDENCE
        assert n < serving.queries_needed(q)
    else:
        assert sps.binom.cdf(k - 1, n, q) >= serving.CONFIDENCE
        assert k == 1 or sps.binom.cdf(k - 2, n, q) < serving.CONFIDENCE


def test_queries_needed_for_p99_at_99_percent_is_459() -> None:
    assert serving.queries_needed(0.99) == 459
    assert serving.upper_rank(458, 0.99) is None
    assert serving.upper_rank(459, 0.99) == 459


def test_the_bound_covers_the_true_quantile_as_often_as_it_says() -> None:
    # exponential latencies: the true p90 is ln(10); the bound must lie above it >= 99% of times
    rng = np.random.default_rng(0)
    true = math.log(10)
    covered = sum(
        serving.quantiles(rng.exponential(1.0, 200).tolist())[1].upper_s >= true  # type: ignore[operator]
        for _ in range(400)
    )
    assert covered / 400 >= 0.97


def test_quantiles_are_nearest_rank_and_say_when_the_bound_needs_more_queries() -> None:
    values = [float(i) for i in range(1, 101)]  # 1..100
    p50, p90, p99 = serving.quantiles(values)
    assert (p50.value_s, p90.value_s, p99.value_s) == (50.0, 90.0, 99.0)
    assert p50.upper_s is not None and p50.upper_s > 50.0
    assert p99.upper_s is None and p99.queries_needed == 459


def write_serve(path: Path, rows: list[tuple[int, int, int, str, float, str, int]]) -> None:
    lines = [HEADER]
    for q, e, i, phase, lat, pred, ans in rows:
        lines.append(
            f"{q}\t{e}\t{i}\t{phase}\t{q * 0.01}\t{lat}\t{pred}\t{ans}\t{int(pred == str(ans))}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_read_serve_and_a_malformed_file(tmp_path: Path) -> None:
    write_serve(
        tmp_path / "serve.tsv", [(0, 0, 0, "cold", 0.5, "0", 0), (1, 0, 1, "measured", 0.1, "-", 1)]
    )
    answers = serving.read_serve(tmp_path / "serve.tsv")
    assert [a.predicted for a in answers] == [0, None]
    assert answers[1].phase == "measured" and answers[1].latency_s == 0.1
    (tmp_path / "bad.tsv").write_text("query\tlatency\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected the header"):
        serving.read_serve(tmp_path / "bad.tsv")


def episode_job(tmp_path: Path, root: Path, ways: int = 3) -> tuple[Path, list[str]]:
    """A serve job folder over `root` (real Omniglot PNGs): one episode of `ways` characters,
    drawer 1 as support and drawer 2 as queries, with tiny random weights."""
    chars = sorted(p for p in (root / sorted(x.name for x in root.iterdir())[0]).iterdir())[:ways]
    job = tmp_path / "job"
    job.mkdir()
    lines = ["episode\trole\tindex\tpath\tanswer"]
    for k, c in enumerate(chars):
        images = sorted(c.iterdir())
        lines.append(f"0\tsupport\t{k}\t{images[0].relative_to(root)}\t{k}")
    for k, c in enumerate(chars):
        images = sorted(c.iterdir())
        lines.append(f"0\tquery\t{k}\t{images[1].relative_to(root)}\t{k}")
    (job / "episodes.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    save_file(random_weights(TINY, seed=3), str(tmp_path / "w.safetensors"))
    spec = {
        "task": "serve",
        "dataset": {"root": str(root), "eval_root": str(root)},
        "inputs": {"weights": str(tmp_path / "w.safetensors")},
        "model": TINY,
        "params": {"protocol": "koch", "ways": ways},
    }
    (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    return job, [line.split("\t")[3] for line in lines[1:]]


def test_referee_scores_each_query_against_its_episode_in_float64(
    tmp_path: Path, omniglot_small1: Path
) -> None:
    job, paths = episode_job(tmp_path, omniglot_small1)
    ref = serving.referee(job)
    assert set(ref.answers) == {(0, 0), (0, 1), (0, 2)}
    w = reference64._weights(random_weights(TINY, seed=3), np.float64)
    images = np.stack([reference64.read_image(omniglot_small1 / p) for p in paths])
    e = reference64.tower(w, reference64.network_input(images, 32))
    logits = np.abs(e[3 + 1] - e[:3]) @ w["out.weight"][0] + w["out.bias"][0]
    predicted, margin, best = ref.answers[(0, 1)]
    assert predicted == int(np.argmax(logits))
    assert best == pytest.approx(float(np.max(logits)))
    assert margin == pytest.approx(float(np.sort(logits)[-1] - np.sort(logits)[-2]))


def test_a_disagreement_is_named_and_a_near_tie_is_excused() -> None:
    ref = serving.Referee({(0, 0): (2, 5.0, 10.0), (0, 1): (1, 1e-6, 10.0)})
    answer = serving.Answer
    same = answer(0, 0, 0, "measured", 0.1, 2, 2)
    differs = answer(1, 0, 0, "measured", 0.1, 0, 2)
    near_tie = answer(2, 0, 1, "measured", 0.1, 0, 1)
    wrong, excused = serving.judge_answers([same, differs, near_tie], ref)
    assert wrong == [differs] and excused == 1


def test_weights_train_is_checked_like_a_train_task() -> None:
    base = {
        "name": "serve-test",
        "implementations": ["python-torch"],
        "dataset": {"synthetic": {"alphabets": 2, "characters": 3, "drawers": 4, "seed": 0}},
        "model": {"preset": "tiny"},
    }
    ok = from_dict({**base, "tasks": [{"serve": {"weights": {"train": {"pairs": 64}}}}]})
    assert ok.tasks[0].weights == {"train": {"pairs": 64}}
    with pytest.raises(HarnessError, match=r"tasks\[0\]\.serve\.weights\.train"):
        from_dict({**base, "tasks": [{"serve": {"weights": {"train": {"pairs": 0}}}}]})
    with pytest.raises(HarnessError, match=r"expected a weights file, `trained` or \{train"):
        from_dict({**base, "tasks": [{"serve": {"weights": {"trian": {}}}}]})


def test_mapped_files_lists_the_interpreter_and_its_libraries(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        found = mapped_files(child.pid, skip_root=False)
    finally:
        child.kill()
        child.wait()
    assert any(Path(p).name.startswith("libc") for p in found)
    assert all(size > 0 and Path(p).is_absolute() for p, (size, _) in found.items())
    assert [Path(p).resolve() for p, (_, exe) in found.items() if exe] == [
        Path(sys.executable).resolve()
    ]
    write_mapped(tmp_path / "mapped.tsv", found)
    assert read_mapped(tmp_path / "mapped.tsv") == found
    assert read_mapped(tmp_path / "missing.tsv") == {}


def serving_record(impl: str, p50: float, agrees: bool | None, **kw: object) -> Serving:
    latency = [
        LatencyQuantile(q=q, value_s=p50 * f, upper_s=p50 * f * 1.1)
        for q, f in ((0.5, 1), (0.9, 1.2), (0.99, 1.5))
    ]
    fields: dict[str, object] = {
        "task_index": 0, "impl": impl, "arrival": "back_to_back", "threads": 2, "runs": 1,
        "queries": 500, "latency": latency, "latency_max_s": p50 * 2, "p99_over_p50": 1.5,
        "cold_start_s": 0.5, "cold_query_s": None, "enrol_s": None, "setup_s": None,
        "steady_rss_bytes": None, "peak_rss_bytes": 1, "idle_cpu_fraction": None,
        "ship_bytes": None, "ship_files": None, "accuracy": None, "agrees": agrees,
    }  # fmt: skip
    return Serving.model_validate({**fields, **kw})


def test_serving_verdict_ranks_by_p50_and_leaves_out_answers_unlike_float64() -> None:
    records = [
        serving_record("python-torch", 0.010, True),
        serving_record("rust-native", 0.004, True),
        serving_record("rust-burn", 0.001, False, disagreements=3),
        serving_record(
            "rust-tract", 0.2, True, task_index=1, page_cache="evict", cold_start_s=0.05
        ),
    ]
    results = complete_results({"measurements": []}).model_copy(update={"serving": records})
    lines = serving_sentences(results)
    assert lines[0] == (
        "Serving (task 0, back_to_back), warm p50 fastest first: rust-native 4 ms (p99 6 ms), "
        "python-torch 10 ms (p99 15 ms). Left out, answers unlike float64's: rust-burn."
    )
    assert lines[1] == (
        "Cold start from an evicted page cache (task 1), fastest first: rust-tract 50 ms."
    )
