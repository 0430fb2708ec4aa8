"""`harness publish`'s serving block (publish/serving.py) from an archive holding an answer run
and a serve run with made-up `serving[]`: the table, the targets met and missed with their
figures, the newest serve run chosen, and `--check` when docs/results.md's markers and the archive
disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.archive.record import Record
from harness.publish.serving import SERVING_MARKERS, run_command, serving_block
from harness.publish.texts import README_MARKERS
from harness.result_sections import LatencyQuantile, Serving
from tests.harness.publishfixtures import XEON, ZEN3, answer_record, variant, write
from tests.harness.test_publish import RESULTS_HEAD, block, publish, readme_without_answer


def serving(impl: str, task: int, p50_ms: float, **fields: object) -> Serving:
    p50 = p50_ms / 1e3
    defaults: dict[str, object] = {
        "task_index": task, "impl": impl, "arrival": "back_to_back", "threads": 2, "runs": 3,
        "queries": 1500, "latency_max_s": 2 * p50, "p99_over_p50": 1.2, "cold_start_s": 1.0,
        "cold_query_s": p50, "enrol_s": 10 * p50, "setup_s": 0.1, "steady_rss_bytes": 2**28,
        "peak_rss_bytes": 2**29, "idle_cpu_fraction": None, "ship_bytes": 2**26,
        "ship_files": 9, "accuracy": 0.7, "agrees": True,
        "latency": [
            LatencyQuantile(q=0.5, value_s=p50, upper_s=1.01 * p50),
            LatencyQuantile(q=0.9, value_s=1.1 * p50, upper_s=1.12 * p50),
            LatencyQuantile(q=0.99, value_s=1.2 * p50, upper_s=None, queries_needed=459),
        ],
    }  # fmt: skip
    return Serving.model_validate({**defaults, **fields})


SERVED = [
    serving("python-torch", 0, 12.0, cold_start_s=2.0),
    serving("python-onnxruntime", 0, 10.0),
    serving("rust-ort", 0, 9.0),
    serving("rust-tract", 0, 20.0),
    serving("rust-native", 0, 7.0, cold_start_s=0.15, p99_over_p50=1.5),
    serving("rust-candle", 0, 30.0, agrees=False),
    serving("rust-native", 1, 7.0, arrival="poisson", idle_cpu_fraction=0.004),
    serving("rust-native", 2, 7.0, page_cache="evict", cold_start_s=0.4),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return answer_record(tmp_path_factory.mktemp("publish-serving-run"))


def serve_record(base: Record, run_id: str, day: int, served: list[Serving]) -> Record:
    record = variant(base, XEON, run_id, day, "f" * 40)
    return record.model_copy(update={"name": "serve", "serving": served})


def test_the_block_ranks_by_warm_p50_and_states_each_target(base: Record) -> None:
    text = serving_block(serve_record(base, "serve-20261204-100000", 4, SERVED))
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith("| `")]
    assert [r.split(" |")[0] for r in rows] == [
        "| `rust-native`", "| `rust-ort`", "| `python-onnxruntime`", "| `python-torch`",
        "| `rust-tract`", "| `rust-candle` (answers unlike float64's)",
    ]  # fmt: skip
    native = rows[0].split(" | ")
    # p50 with its bound, p90, p99 without one (too few queries), p99/p50, cold starts, idle CPU
    assert native[1:8] == ["7 (≤ 7.07)", "7.7 (≤ 7.84)", "8.4", "1.50", "150", "400", "0.4%"]
    assert native[8:] == ["256", "64 |"]
    assert (
        "- Warm p50: rust-native 7 ms is 0.78x the best of python-torch, python-onnxruntime, "
        "rust-ort, rust-tract (rust-ort, 9 ms); target ≤ 0.8x: met." in lines
    )
    assert "- Tail: rust-native's p99/p50 is 1.50; target ≤ 1.3: missed." in lines
    assert (
        "- Cold start (warm page cache): rust-native 150 ms is 0.075x python-torch's 2000 ms; "
        "target ≤ 0.1x: met." in lines
    )
    assert "- Idle CPU between Poisson arrivals: rust-native 0.40%; target < 1%: met." in lines
    assert "serve-20261204-100000" in text and "configs/serve.yaml" in text


def test_publish_writes_the_newest_serve_run_and_check_sees_a_missing_one(
    base: Record, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "archive"
    write(archive, variant(base, ZEN3, "answer-20261201-100000", 1, "a" * 40))
    write(archive, serve_record(base, "serve-20261202-100000", 2, SERVED[:2]))
    write(archive, serve_record(base, "serve-20261203-100000", 3, SERVED))
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    readme = readme_without_answer() + "\n".join(["", *README_MARKERS, "", "After.", ""])
    (checkout / "README.md").write_text(readme)
    results = RESULTS_HEAD + "\n".join(["", *SERVING_MARKERS, "", "Notebook.", ""])
    (checkout / "docs" / "results.md").write_text(results)
    assert publish(archive, checkout) == 0
    served = block((checkout / "docs" / "results.md").read_text(), SERVING_MARKERS)
    assert "serve-20261203-100000" in served and "serve-20261202" not in served
    assert "| `rust-native` |" in served
    capsys.readouterr()
    assert publish(archive, checkout, "--check") == 0
    # the serve run gone from the archive: the serving block is stale
    (archive / XEON / "serve-20261202-100000.json.gz").unlink()
    (archive / XEON / "serve-20261203-100000.json.gz").unlink()
    assert publish(archive, checkout, "--check") == 1
    assert capsys.readouterr().out.splitlines() == [
        f"docs/results.md: holds serving markers but {archive} holds no serve run"
    ]


def test_the_command_names_every_set_the_run_had() -> None:
    shipped = {
        "name": "serve",
        "threads": 2,
        "model": {"preset": "paper"},
        "sweep": {"model": [{"preset": "paper"}, {"preset": "small"}], "threads": [2, 1]},
    }
    assert run_command(shipped, shipped) == "python -m harness run configs/serve.yaml"
    ran = {**shipped, "threads": 1, "model": {"preset": "paper", "conv": "fft"}}
    del ran["sweep"]
    assert run_command(ran, shipped) == (
        "python -m harness run configs/serve.yaml --set model.conv=fft --set sweep=null "
        "--set threads=1"
    )
    narrowed = {**shipped, "sweep": {**shipped["sweep"], "threads": [2]}}
    assert run_command(narrowed, shipped).endswith("--set 'sweep.threads=[2]'")
    assert run_command(ran, None) == "python -m harness run configs/serve.yaml"
