"""A task's own `eval_root`: validate on one half of the alphabets, test on another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.config import from_dict
from harness.run.experiment import run_experiment
from tests.harness.fakerun import fake, quiet, tiny_dataset


def raw_config(tmp_path: Path, eval_root: str) -> dict[str, object]:
    return {
        "name": "fake",
        "threads": 1,
        "repeats": 1,
        "warmup": 0,
        "implementations": ["a"],
        "dataset": {"root": str(tiny_dataset(tmp_path)), "eval_root": str(tmp_path)},
        "tasks": [{"sample": {"pairs": 10}}, {"sample": {"pairs": 10, "eval_root": eval_root}}],
    }


def test_a_task_eval_root_reaches_only_that_tasks_jobs(tmp_path: Path) -> None:
    other = tmp_path / "koch-test"
    (other / "Alphabet" / "character01").mkdir(parents=True)
    config = from_dict(raw_config(tmp_path, str(other)))
    assert config.tasks[0].eval_root is None and config.tasks[1].eval_root == other.resolve()
    assert "eval_root" not in config.tasks[1].params  # the harness's key, not the job's
    out = tmp_path / "run"
    run_experiment(config, out, quiet(), {"a": fake("a")})
    jobs = sorted((out / "jobs").iterdir())
    roots = [json.loads((j / "job.json").read_text())["dataset"]["eval_root"] for j in jobs]
    assert roots == [str(tmp_path), str(other.resolve())]


def test_a_missing_task_eval_root_is_one_clear_error_before_any_job(tmp_path: Path) -> None:
    config = from_dict(raw_config(tmp_path, str(tmp_path / "nowhere")))
    out = tmp_path / "run"
    with pytest.raises(HarnessError) as info:
        run_experiment(config, out, quiet(), {"a": fake("a")})
    message = str(info.value)
    assert message.startswith("tasks[1].sample.eval_root: ") and "does not exist" in message
    assert "\n" not in message
    assert not (out / "jobs").exists()
