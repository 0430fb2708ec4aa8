"""Config loading: every mistake is one line naming the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run.config import load_config

GOOD = """\
name: t
seed: 3
threads: 1
repeats: 2
warmup: 0
implementations: [python-torch, rust-native]
tasks:
  - sample: {pairs: 100}
  - load: {source: pairs, input_pairs: 50}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, *overrides: str) -> str:
    with pytest.raises(HarnessError) as info:
        load_config(write(tmp_path, text), overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_loads_a_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.seed == 3 and config.threads == 1 and config.repeats == 2
    assert [t.name for t in config.tasks] == ["sample", "load"]
    assert config.tasks[1].input_pairs == 50
    assert "input_pairs" not in config.tasks[1].params


def test_rejects_unknown_config_key_with_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "repeets: 3\n")
    assert "repeets: unknown key (did you mean `repeats`?)" in message


def test_rejects_a_key_that_is_not_a_string_in_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "~: 3\n")  # YAML's null as a key
    assert "None: unknown key; expected one of name, seed" in message


def test_rejects_wrong_type_by_key_path(tmp_path: Path) -> None:
    assert "threads: expected an integer" in error_of(
        tmp_path, GOOD.replace("threads: 1", "threads: two")
    )


def test_reports_yaml_syntax_error_with_line_and_column(tmp_path: Path) -> None:
    message = error_of(tmp_path, "name: t\ntasks: [\n")
    assert "YAML syntax error at line" in message and "column" in message


def test_rejects_unknown_task_with_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("- sample:", "- sampel:"))
    assert "tasks[0].sampel: unknown task (did you mean `sample`?)" in message


def test_rejects_out_of_range_task_param(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("pairs: 100", "pairs: -3"))
    assert "tasks[0].sample.pairs" in message and "minimum" in message


def test_rejects_unknown_task_param(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("pairs: 100", "pairs: 100, colour: red"))
    assert "tasks[0].sample" in message and "colour" in message


def test_set_overrides_nested_keys_and_list_items(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, GOOD), ["repeats=5", "tasks.0.sample.pairs=7", "dataset.root=/tmp"]
    )
    assert config.repeats == 5
    assert config.tasks[0].params["pairs"] == 7
    assert config.dataset.root == Path("/tmp")


def test_set_rejects_bad_list_index(tmp_path: Path) -> None:
    assert "must index a list" in error_of(tmp_path, GOOD, "tasks.9.sample.pairs=1")


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_every_shipped_config_is_valid() -> None:
    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert configs, "configs/ has no experiments"
    for path in configs:
        load_config(path)


def test_init_of_the_shared_weights_is_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD + "init: he\n")).init == "he"
    assert "init: expected one of paper, he" in error_of(tmp_path, GOOD + "init: xavier\n")


def test_the_listed_top_keys_are_the_config_fields() -> None:
    from harness.run.config import TOP_KEYS, Config

    assert sorted(TOP_KEYS) == sorted(Config.model_fields)


def test_a_preset_that_is_not_a_name_is_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "model: {preset: [cpu]}\n")
    assert "model.preset: unknown preset ['cpu']" in message
