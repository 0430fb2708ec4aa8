"""`python -m oneshot_torch run JOB.json` end to end, as the harness runs it (docs/protocol.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from oneshot_common.data import pack_bits
from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parents[2]
RESULT_SCHEMA = json.loads((REPO / "docs" / "schemas" / "result.schema.json").read_text())
JobWriter = Callable[..., Path]


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oneshot_torch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def result_of(job_path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((job_path.parent / "result.json").read_text())
    jsonschema.validate(result, RESULT_SCHEMA)
    return result


def events_of(stdout: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stdout.splitlines()]
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[0] >= 0
    return events


def test_sample_writes_pairs_result_and_events(tiny_dataset: Any, job_writer: JobWriter) -> None:
    root, _ = tiny_dataset
    job = job_writer(root, "sample", {"pairs": 100, "same_alphabet": 0.25})
    done = run(["run", str(job)])
    assert done.returncode == 0, done.stderr
    result = result_of(job)
    assert result["ok"] is True and result["error"] is None and result["impl"] == "python-torch"
    assert result["metrics"]["pairs"] == 100 and result["metrics"]["pairs_per_s"] > 0
    assert result["outputs"] == {"pairs": "pairs.tsv"} and result["seed"] == 7
    lines = (job.parent / "pairs.tsv").read_text().split("\n")
    assert lines[0] == "left\tright\tlabel" and len(lines) == 102 and lines[-1] == ""
    events = events_of(done.stdout)
    assert events[0] == {
        "event": "start",
        "t": events[0]["t"],
        "impl": "python-torch",
        "task": "sample",
        "protocol": 1,
    }
    assert events[-1]["event"] == "end" and events[-1]["ok"] is True
    phases = [(e["name"], e["state"]) for e in events if e["event"] == "phase"]
    assert phases == [("sample", "begin"), ("sample", "end"), ("write", "begin"), ("write", "end")]


def test_load_from_pairs_and_from_dataset(tiny_dataset: Any, job_writer: JobWriter) -> None:
    root, written = tiny_dataset
    sample_job = job_writer(root, "sample", {"pairs": 9})
    assert run(["run", str(sample_job)]).returncode == 0
    pairs_file = sample_job.parent / "pairs.tsv"
    pairs = [line.split("\t") for line in pairs_file.read_text().splitlines()[1:]]

    job = job_writer(root, "load", {"source": "pairs"}, inputs={"pairs": str(pairs_file)})
    done = run(["run", str(job)])
    assert done.returncode == 0, done.stderr
    result = result_of(job)
    assert result["outputs"] == {"images": "images.safetensors"}
    assert result["metrics"]["images"] == len({p for a, b, _ in pairs for p in (a, b)})
    tensors = load_file(str(job.parent / "images.safetensors"))
    assert sorted(tensors) == ["labels", "left", "right"]
    assert tensors["left"].dtype == np.uint8 and tensors["left"].shape == (9, 1379)
    assert tensors["labels"].tolist() == [int(label) for _, _, label in pairs]
    assert np.array_equal(tensors["right"], pack_bits(np.stack([written[b] for _, b, _ in pairs])))

    job = job_writer(root, "load", {"source": "dataset"})
    done = run(["run", str(job)])
    assert done.returncode == 0, done.stderr
    assert result_of(job)["metrics"]["images"] == len(written)
    images = load_file(str(job.parent / "images.safetensors"))["images"]
    assert np.array_equal(images, pack_bits(np.stack([written[p] for p in sorted(written)])))


def test_unknown_field_exits_2_with_one_line_and_a_failed_result(
    tiny_dataset: Any, job_writer: JobWriter
) -> None:
    job = job_writer(tiny_dataset[0], "sample", {"pairs": 10, "foo": 1})
    done = run(["run", str(job)])
    assert done.returncode == 2
    assert done.stderr == (
        "error: params.foo: unknown field, expected one of pairs, same_alphabet\n"
    )
    result = result_of(job)
    assert result["ok"] is False and "params.foo: unknown field" in result["error"]
    assert events_of(done.stdout)[-1] == {
        "event": "end",
        "t": pytest.approx(0, abs=60),
        "ok": False,
    }


def test_corrupt_image_exits_2_naming_the_file(tiny_dataset: Any, job_writer: JobWriter) -> None:
    root, _ = tiny_dataset
    (root / "Beta" / "character01" / "01.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    job = job_writer(root, "load", {"source": "dataset"})
    done = run(["run", str(job)])
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Beta/character01/01.png: corrupt or truncated PNG" in done.stderr
    assert result_of(job)["ok"] is False


def test_bad_data_set_exits_2_naming_the_folder(tmp_path: Path, job_writer: JobWriter) -> None:
    (tmp_path / "empty").mkdir()
    job = job_writer(tmp_path / "empty", "sample", {"pairs": 10})
    done = run(["run", str(job)])
    assert done.returncode == 2 and "empty: data set has no alphabet folder" in done.stderr


def test_missing_or_broken_job_file_exits_2(tmp_path: Path) -> None:
    done = run(["run", str(tmp_path / "nope.json")])
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "nope.json" in done.stderr
    (tmp_path / "bad.json").write_text("{not json")
    done = run(["run", str(tmp_path / "bad.json")])
    assert done.returncode == 2 and "not a JSON job file" in done.stderr
    assert not (tmp_path / "result.json").exists()


def test_unwritable_output_exits_1(tiny_dataset: Any, job_writer: JobWriter) -> None:
    job = job_writer(tiny_dataset[0], "sample", {"pairs": 10})
    (job.parent / "pairs.tsv").mkdir()  # a folder where the pair file should go
    done = run(["run", str(job)])
    assert done.returncode == 1 and "cannot write the pair file" in done.stderr
    assert result_of(job)["ok"] is False


def test_sample_and_load_never_import_torch(tiny_dataset: Any, job_writer: JobWriter) -> None:
    job = job_writer(tiny_dataset[0], "load", {"source": "dataset"})
    code = (
        "import sys; from oneshot_torch.cli import main; code = main(['run', sys.argv[1]]);"
        "print('torch' in sys.modules, code, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(job)], capture_output=True, text=True, check=False
    )
    assert done.stderr.strip() == "False 0"


def test_version_prints_a_json_object() -> None:
    done = run(["version"])
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {"python", "numpy", "pillow", "torch", "oneshot_torch"} <= set(found)
