"""The job parser (oneshot_common.job): typed, strict, errors naming the field path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from oneshot_common.errors import InputError
from oneshot_common.job import parse_job
from oneshot_common.params import LoadParams, ModelSpec, SampleParams

VALID: dict[str, Any] = {
    "format_version": 1,
    "task": "sample",
    "seed": 7,
    "threads": 2,
    "out_dir": "/tmp/out",
    "dataset": {"root": "/data/background", "eval_root": None},
    "inputs": {"pairs": None, "weights": None},
    "model": None,
    "params": {"pairs": 1000},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """VALID with the dotted `path` set to `value` (`...=DELETE` removes it)."""
    job = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = job
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return job


DELETE = object()


def test_parses_a_sample_job_with_defaults() -> None:
    job = parse_job(VALID)
    assert job.task == "sample" and job.seed == 7 and job.threads == 2
    assert job.params == SampleParams(pairs=1000, same_alphabet=0.5)
    assert job.model is None and job.dataset.eval_root is None and job.inputs.pairs is None


def test_parses_load_params_model_and_the_largest_seed() -> None:
    raw = with_change("params", {"source": "dataset"})
    raw.update(task="load", seed=2**64 - 1)
    raw["model"] = {
        "filters": [8, 8, 8, 8],
        "kernels": [10, 7, 4, 4],
        "embedding": 64,
        "input": 105,
    }
    job = parse_job(raw)
    assert job.params == LoadParams(source="dataset")
    assert job.model == ModelSpec((8, 8, 8, 8), (10, 7, 4, 4), 64, 105)
    assert job.seed == 2**64 - 1


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("params.foo", 1, "params.foo: unknown field, expected one of pairs, same_alphabet"),
        ("extra", 1, "extra: unknown field, expected one of .*dataset, device, format_version"),
        ("device", "gpu", "device: got string 'gpu', expected one of cpu, cuda"),
        ("device", None, "device: got null, expected one of cpu, cuda"),
        ("dataset.roots", "/x", "dataset.roots: unknown field, expected one of eval_root, root"),
        ("inputs.pair", None, "inputs.pair: unknown field"),
        ("format_version", 2, r"format_version: got int 2, expected 1 \(protocol v1\)"),
        ("format_version", DELETE, "format_version: got null, expected 1"),
        ("task", "fly", "task: got string 'fly', expected one of .*load.*sample"),
        ("seed", "7", "seed: got string '7', expected an integer"),
        ("seed", True, "seed: got boolean true, expected an integer"),
        ("seed", 7.0, "seed: got float 7.0, expected an integer"),
        ("seed", -1, r"seed: -1 is out of range, expected a value in \[0, 18446744073709551615\]"),
        ("seed", 2**64, "seed: 18446744073709551616 is out of range"),
        ("threads", 0, "threads: 0 is out of range"),
        ("out_dir", "", "out_dir: got an empty string"),
        ("dataset", DELETE, "dataset: missing required field"),
        ("dataset.root", None, "dataset.root: got null, expected a string"),
        ("params.pairs", 0, "params.pairs: 0 is out of range"),
        ("params.pairs", DELETE, "params.pairs: missing required field"),
        (
            "params.same_alphabet",
            1.5,
            r"params.same_alphabet: 1.5 is out of range, expected .*\[0.0, 1.0\]",
        ),
        (
            "params.same_alphabet",
            "half",
            "params.same_alphabet: got string 'half', expected a number",
        ),
        ("params", [], "params: got an array, expected an object"),
        (
            "model",
            {"filters": [1, 2, 3], "kernels": [1, 1, 1, 1], "embedding": 1, "input": 8},
            "model.filters: got 3 items, expected 4",
        ),
        (
            "model",
            {"filters": [1, 2, 3, 0], "kernels": [1, 1, 1, 1], "embedding": 1, "input": 8},
            r"model.filters\[3\]: 0 is out of range",
        ),
        (
            "model",
            {"filters": [1, 1, 1, 1], "kernels": [1, 1, 1, 1], "embedding": 1},
            "model.input: missing required field",
        ),
    ],
)
def test_rejects_bad_jobs_naming_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_job(with_change(path, value))


def test_load_source_must_be_pairs_or_dataset() -> None:
    raw = with_change("params", {"source": "files"})
    raw["task"] = "load"
    with pytest.raises(
        InputError, match=r"params\.source: got string 'files', expected one of pairs, dataset"
    ):
        parse_job(raw)


def test_rejects_a_job_that_is_not_an_object() -> None:
    with pytest.raises(InputError, match="job: got an array, expected an object"):
        parse_job([1, 2])


def test_model_conv_direct_is_accepted_and_fft_refused_in_one_line() -> None:
    model = {"filters": [8, 8, 8, 8], "kernels": [10, 7, 4, 4], "embedding": 64, "input": 105}
    job = parse_job(with_change("model", {**model, "conv": ["direct"] * 4}))
    assert job.model is not None and job.model.conv == ("direct",) * 4
    raw = with_change("model", {**model, "conv": ["direct", "fft", "direct", "direct"]})
    with pytest.raises(InputError, match=r"^model\.conv: got fft for layer 2, expected direct"):
        parse_job(raw)
    expected = r"^model\.conv\[0\]: got string 'gemm', expected one of direct, fft"
    with pytest.raises(InputError, match=expected):
        parse_job(with_change("model", {**model, "conv": ["gemm"] * 4}))
