"""The config's `device`: validation, manifests' `devices:`, the refusal, the job field, records.

No GPU is needed: a `device: cuda` run goes to a fake implementation that declares cuda, and the
refusal is checked against a fake manifest that declares only the CPU.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.process import impls
from harness.process.protocol import make_job, schema, write_job
from harness.report import as_results
from harness.report.diff import check_comparable
from harness.report.markdown import render
from harness.results import Results, parse
from harness.run.config import from_dict, load_config
from harness.run.experiment import run_experiment
from tests.harness.fakerun import FAKE, fake, fake_run, quiet, tiny_dataset
from tests.harness.test_diff import document

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE = "name: t\nimplementations: [a]\ntasks:\n  - sample: {pairs: 10}\n"


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError) as info:
        load_config(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_device_defaults_to_cpu_and_accepts_cuda(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    assert load_config(path).device == "cpu"
    assert load_config(path, ["device=cuda"]).device == "cuda"
    path.write_text(BASE + "device: cuda\n")
    assert load_config(path).device == "cuda"
    assert load_config(path, ["device=cpu"]).device == "cpu"


@pytest.mark.parametrize("value", ["gpu", "CUDA", "1", "[cuda]"])
def test_an_unknown_device_is_one_line_naming_key_value_and_choices(
    tmp_path: Path, value: str
) -> None:
    message = config_error(tmp_path, BASE + f"device: {value}\n")
    assert "device: expected one of cpu, cuda, got" in message


def write_manifest(folder: Path, impl_id: str, extra: str = "") -> Path:
    (folder / impl_id).mkdir(parents=True, exist_ok=True)
    path = folder / impl_id / "impl.yaml"
    path.write_text(
        f"id: {impl_id}\nlanguage: python\n"
        f'run: ["{{python}}", "{FAKE}", "run", "{{job}}"]\n' + extra
    )
    return path


def test_manifest_devices_default_to_cpu(tmp_path: Path) -> None:
    assert impls.load_manifest(write_manifest(tmp_path, "plain")).devices == ("cpu",)
    both = impls.load_manifest(write_manifest(tmp_path, "both", "devices: [cpu, cuda]\n"))
    assert both.devices == ("cpu", "cuda")


@pytest.mark.parametrize("value", ["[]", "[tpu]", "cuda", "[cpu, cpu]", "[1]"])
def test_bad_manifest_devices_are_one_line(tmp_path: Path, value: str) -> None:
    path = write_manifest(tmp_path, "bad", f"devices: {value}\n")
    with pytest.raises(HarnessError) as info:
        impls.load_manifest(path)
    message = str(info.value)
    assert "\n" not in message and "devices:" in message and "expected a list" in message


def test_shipped_manifests_declare_their_devices() -> None:
    found = impls.discover(impls.IMPLS_DIR)
    assert found["python-torch"].devices == ("cpu", "cuda")
    assert found["rust-native"].devices == ("cpu",)


def test_every_shipped_config_asks_only_for_declared_devices() -> None:
    found = impls.discover(impls.IMPLS_DIR)
    for path in sorted(CONFIGS.glob("*.yaml")):
        config = load_config(path)
        impls.check_device(config.device, impls.select(config.implementations, found))
    paper = load_config(CONFIGS / "paper.yaml")
    assert paper.device == "cuda" and paper.implementations == ("python-torch",)


def test_run_refuses_a_device_an_implementation_does_not_declare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "impls"
    write_manifest(folder, "rust-native")
    write_manifest(folder, "both", "devices: [cpu, cuda]\n")
    monkeypatch.setenv(impls.IMPLS_ENV, str(folder))
    config = tmp_path / "c.yaml"
    data = tiny_dataset(tmp_path)
    config.write_text(
        "name: t\ndevice: cuda\nimplementations: [both, rust-native]\n"
        f"dataset: {{root: {data}}}\ntasks:\n  - sample: {{pairs: 10}}\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: device: cuda is not supported by rust-native (its impl.yaml declares devices "
        "[cpu]); run it with device: cpu or leave it out of implementations\n"
    )
    assert not out.exists(), "the refusal must come before any work"


def job_args(tmp_path: Path) -> dict[str, Any]:
    return {
        "task": "sample",
        "seed": 1,
        "threads": 1,
        "out_dir": tmp_path,
        "root": tmp_path,
        "eval_root": None,
        "params": {"pairs": 3},
    }


def test_make_job_writes_device_only_when_it_is_not_cpu(tmp_path: Path) -> None:
    assert "device" not in make_job(**job_args(tmp_path))
    assert "device" not in make_job(**job_args(tmp_path), device="cpu")
    job = make_job(**job_args(tmp_path), device="cuda")
    assert job["device"] == "cuda"
    write_job(tmp_path / "job.json", job)  # validates against the schema
    assert json.loads((tmp_path / "job.json").read_text())["device"] == "cuda"


@pytest.mark.parametrize(("device", "valid"), [("cpu", True), ("cuda", True), ("gpu", False)])
def test_job_schema_device(tmp_path: Path, device: Any, valid: bool) -> None:
    job = make_job(**job_args(tmp_path))
    job["device"] = device
    validator = jsonschema.Draft202012Validator(schema("job"))
    assert validator.is_valid(job) is valid
    job["device"] = None
    assert not validator.is_valid(job)


def test_a_cuda_run_writes_device_into_jobs_results_and_report(tmp_path: Path) -> None:
    gpu = dataclasses.replace(fake("g"), devices=("cpu", "cuda"))
    raw = {
        "name": "fake",
        "threads": 1,
        "repeats": 1,
        "warmup": 0,
        "device": "cuda",
        "implementations": ["g"],
        "dataset": {"root": str(tiny_dataset(tmp_path))},
        "tasks": [{"sample": {"pairs": 10}}],
    }
    out = tmp_path / "run"
    results = run_experiment(from_dict(raw), out, quiet(), {"g": gpu})
    assert results["device"] == "cuda"
    assert json.loads((out / "results.json").read_text())["device"] == "cuda"
    (job_dir,) = (out / "jobs").iterdir()
    assert json.loads((job_dir / "job.json").read_text())["device"] == "cuda"
    assert "device cuda" in render(as_results(results, out), out)


def test_a_cpu_run_writes_no_device_into_jobs(tmp_path: Path) -> None:
    results, out = fake_run(tmp_path, {"a": []})
    assert results["device"] == "cpu" and "device cpu" in render(as_results(results, out), out)
    for job in (out / "jobs").glob("*/job.json"):
        assert "device" not in json.loads(job.read_text())


def test_diff_treats_a_missing_device_as_cpu() -> None:
    def run(**config: Any) -> Results:
        doc = document(1.0, 1)
        doc["config"] = {"name": "x", **config}
        doc["dataset"]["sha256"] = "s"
        return parse(doc)

    base = run()
    check_comparable(base, run(device="cpu"))
    with pytest.raises(HarnessError, match="device: 'cpu' vs 'cuda'"):
        check_comparable(base, run(device="cuda"))


def test_manifest_conv_defaults_to_direct_and_the_job_carries_conv_only_where_declared(
    tmp_path: Path,
) -> None:
    plain = impls.load_manifest(write_manifest(tmp_path, "plain"))
    fft = impls.load_manifest(write_manifest(tmp_path, "fft", "conv: [direct, fft]\n"))
    assert plain.conv == ("direct",) and fft.conv == ("direct", "fft")
    model = {"filters": [1, 2, 3, 4], "kernels": [5, 5, 3, 3], "embedding": 8, "input": 52}
    asked = {**model, "conv": ["direct", "fft", "direct", "direct"]}
    assert impls.job_model(fft, asked) == asked
    assert impls.job_model(plain, asked) == model
    assert impls.job_model(plain, None) is None
    note = impls.conv_note(asked, [plain, fft])
    assert note == "model.conv: conv2 by FFT in fft; directly in plain"
    assert impls.conv_note(model, [plain, fft]) is None
    found = impls.discover(impls.IMPLS_DIR)
    assert [i for i, impl in found.items() if "fft" in impl.conv] == ["rust-native"]


@pytest.mark.parametrize("value", ["[]", "[fft]", "direct", "[direct, direct]", "[direct, gemm]"])
def test_bad_manifest_conv_is_one_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(HarnessError) as info:
        impls.load_manifest(write_manifest(tmp_path, "bad", f"conv: {value}\n"))
    message = str(info.value)
    assert "\n" not in message and "conv:" in message and "[direct, fft]" in message
