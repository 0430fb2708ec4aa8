"""Bad input to the real implementations: one `error:` line naming the culprit, exit code 2.

Each case builds a small valid data set, breaks one thing, runs the same job through
`python -m oneshot_torch`, `python -m oneshot_torch.compiled`, `python -m oneshot_jax` and
every Rust binary (rust-native and the framework back-ends), and checks the exit code, that
stderr is one line starting with `error:` that names the file, folder or key, and that nothing
crashed (no Python traceback, no Rust panic). The three Python implementations must print the
very same line, and so must the Rust ones (one core reads every job).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from tests.integration.conftest import REPO, build_rust, run_python, run_rust, rust_ids, write_job

pytestmark = pytest.mark.slow


def good_png(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ink = rng.random((105, 105)) < 0.1
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(~ink).convert("1").save(path)


def dataset(root: Path) -> Path:
    for a in ("Alpha", "Beta"):
        for c in ("character01", "character02"):
            for d in (1, 2, 3):
                good_png(root / a / c / f"{c[-2:]}_{d:02d}.png", hash((a, c, d)) % 1000)
    return root


def pair_file(root: Path, path: Path, left: str) -> Path:
    path.write_text(f"left\tright\tlabel\n{left}\tAlpha/character01/01_02.png\t1\n")
    return path


def tiny_weights(path: Path, drop: str | None = None, bad: str | None = None) -> None:
    shapes = {
        "conv1.weight": (4, 1, 5, 5), "conv1.bias": (4,), "conv2.weight": (8, 4, 3, 3),
        "conv2.bias": (8,), "conv3.weight": (8, 8, 2, 2), "conv3.bias": (8,),
        "conv4.weight": (16, 8, 2, 2), "conv4.bias": (16,), "fc1.weight": (32, 16),
        "fc1.bias": (32,), "out.weight": (1, 32), "out.bias": (1,),
    }  # fmt: skip
    tensors = {
        k: np.full(v if k != bad else (3,), 0.01, np.float32)
        for k, v in shapes.items()
        if k != drop
    }
    save_file(tensors, str(path))


TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}

# name -> (break the set-up, task, params, job extras, text the error must contain)
Case = tuple[Callable[[Path], dict[str, Any]], str, dict[str, Any], str]


def corrupt(root: Path) -> dict[str, Any]:
    (root / "Alpha/character01/01_01.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return {}


def truncated(root: Path) -> dict[str, Any]:
    p = root / "Alpha/character01/01_01.png"
    p.write_bytes(p.read_bytes()[:60])
    return {}


def wrong_size(root: Path) -> dict[str, Any]:
    Image.new("1", (64, 64), 1).save(root / "Alpha/character01/01_01.png")
    return {}


def wrong_mode(root: Path) -> dict[str, Any]:
    Image.new("L", (105, 105), 255).save(root / "Alpha/character01/01_01.png")
    return {}


def unreadable(root: Path) -> dict[str, Any]:
    p = root / "Alpha/character01/01_01.png"
    p.unlink()
    p.mkdir()  # a folder where the image should be: unreadable as a file (root reads any file)
    return {"pairs": str(pair_file(root, root.parent / "p.tsv", "Alpha/character01/01_01.png"))}


def one_character(root: Path) -> dict[str, Any]:
    shutil.rmtree(root / "Beta/character02")
    return {}


def one_drawer(root: Path) -> dict[str, Any]:
    for d in (2, 3):
        (root / f"Alpha/character02/02_{d:02d}.png").unlink()
    return {}


def missing_root(root: Path) -> dict[str, Any]:
    shutil.rmtree(root)
    return {}


def escaping_pairs(root: Path) -> dict[str, Any]:
    return {"pairs": str(pair_file(root, root.parent / "p.tsv", "../outside.png"))}


def absolute_pairs(root: Path) -> dict[str, Any]:
    return {"pairs": str(pair_file(root, root.parent / "p.tsv", "/etc/passwd"))}


def weights_with(**kwargs: Any) -> Callable[[Path], dict[str, Any]]:
    def make(root: Path) -> dict[str, Any]:
        w = root.parent / "w.safetensors"
        tiny_weights(w, **kwargs)
        pairs = pair_file(root, root.parent / "p.tsv", "Alpha/character01/01_01.png")
        return {"pairs": str(pairs), "weights": str(w), "model": TINY}

    return make


def truncated_weights(root: Path) -> dict[str, Any]:
    extra = weights_with()(root)
    w = Path(extra["weights"])
    w.write_bytes(w.read_bytes()[:100])
    return extra


def unknown_field(root: Path) -> dict[str, Any]:
    return {}


CASES: dict[str, Case] = {
    "corrupt png": (corrupt, "load", {"source": "dataset"}, "01_01.png"),
    "truncated png": (truncated, "load", {"source": "dataset"}, "01_01.png"),
    "wrong size": (wrong_size, "load", {"source": "dataset"}, "64"),
    "wrong mode": (wrong_mode, "load", {"source": "dataset"}, "01_01.png"),
    "unreadable image": (unreadable, "load", {"source": "pairs"}, "01_01.png"),
    "alphabet with one character": (one_character, "sample", {"pairs": 10}, "Beta"),
    "character with one drawer": (one_drawer, "sample", {"pairs": 10}, "character02"),
    "missing data folder": (missing_root, "sample", {"pairs": 10}, "data"),
    "pair path escaping the root": (escaping_pairs, "load", {"source": "pairs"}, "p.tsv"),
    "absolute pair path": (absolute_pairs, "load", {"source": "pairs"}, "p.tsv"),
    "missing tensor": (weights_with(drop="conv2.bias"), "forward", {}, "conv2.bias"),
    "mis-shaped tensor": (weights_with(bad="fc1.weight"), "forward", {}, "fc1.weight"),
    "truncated weights": (truncated_weights, "forward", {}, "w.safetensors"),
    "unknown job field": (unknown_field, "sample", {"pairs": 10, "colour": 1}, "colour"),
}


@pytest.fixture(scope="module")
def rust_bins() -> dict[str, Path]:
    """Every Rust implementation's release binary, built as the harness builds it."""
    return {impl_id: build_rust(impl_id) for impl_id in rust_ids()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_error_line_in_every_implementation(
    case: str, rust_bins: dict[str, Path], tmp_path: Path
) -> None:
    breaker, task, params, must_name = CASES[case]
    root = dataset(tmp_path / "data")
    extra = breaker(root)
    lines_of: dict[str, str] = {}
    packages = {
        "python": "oneshot_torch",
        "compile": "oneshot_torch.compiled",
        "jax": "oneshot_jax",
    }
    for side in ("python", "compile", "jax", *rust_bins):
        out = tmp_path / side
        job = write_job(out, task, root, params, **extra)
        proc = (
            run_rust(rust_bins[side], job) if side in rust_bins else run_python(job, packages[side])
        )
        err = proc.stderr.strip()
        assert proc.returncode == 2, f"{side}: exit {proc.returncode}: {err}"
        assert "Traceback" not in err and "panicked" not in err, f"{side}: {err}"
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{side}: {err}"
        assert must_name in lines[0], f"{side}: {lines[0]!r} does not name {must_name!r}"
        lines_of[side] = lines[0].replace(str(tmp_path / side), "OUT")
    assert lines_of["jax"] == lines_of["python"] == lines_of["compile"]
    rust_lines = {lines_of[impl_id] for impl_id in rust_bins}
    assert len(rust_lines) == 1, f"the Rust binaries disagree: {rust_lines}"


def test_every_rust_binary_is_built_for_the_same_cpu_features(rust_bins: dict[str, Path]) -> None:
    """A fair fight: each manifest's build runs in its own folder, and Cargo reads
    `.cargo/config.toml` (`target-cpu=native`) from the folders above the one it runs in, so a
    config that only one binary's folder can see would build the others for a generic x86-64."""
    features = {}
    for impl_id, binary in rust_bins.items():
        proc = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True)
        features[impl_id] = json.loads(proc.stdout)["target_features"]
    assert features["rust-native"], features  # target-cpu=native enables some of the list
    assert len(set(features.values())) == 1, f"target features differ: {features}"


def test_rust_back_ends_without_fft_refuse_it_in_one_line(
    rust_bins: dict[str, Path], tmp_path: Path
) -> None:
    """The harness sends `model.conv` only where the manifest declares FFT; a job written by
    hand that asks another back-end for it gets one line naming the key and what it has. The
    ONNX engines run an export, not these weights: tests/onnx_impl gives them this job."""
    from harness.process.impls import discover

    onnx_engines = {i.id for i in discover(REPO / "impls").values() if i.model_file == "onnx"}
    root = dataset(tmp_path / "data")
    extra = weights_with()(root)
    extra["model"] = {**TINY, "conv": ["direct", "fft", "direct", "direct"]}
    for impl_id, binary in rust_bins.items():
        if impl_id in onnx_engines:
            continue
        out = tmp_path / impl_id
        job = write_job(out, "forward", root, {}, **extra)
        proc = run_rust(binary, job)
        if impl_id == "rust-native":
            assert proc.returncode == 0, proc.stderr
            continue
        err = proc.stderr.strip()
        assert proc.returncode == 2 and len(err.splitlines()) == 1, f"{impl_id}: {err}"
        assert err.startswith("error: model.conv: ") and "expected direct" in err, err


def test_the_suite_covers_what_the_readme_says() -> None:
    assert len(CASES) == 14
