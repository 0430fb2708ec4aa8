"""Both real implementations on the real Omniglot: identical pair files and identical pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file

from tests.integration.conftest import run_python, run_rust, write_job

pytestmark = pytest.mark.slow


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=False,
)
@given(
    seed=st.integers(min_value=0, max_value=2**64 - 1), same=st.sampled_from([0.0, 0.5, 0.9, 1.0])
)
def test_pair_files_are_byte_identical_on_the_background_set(
    omniglot_background: Path,
    rust_bin: Path,
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    same: float,
) -> None:
    out = tmp_path_factory.mktemp("pairs")
    params = {"pairs": 5001, "same_alphabet": same}
    py = run_python(write_job(out / "py", "sample", omniglot_background, params, seed=seed))
    rs = run_rust(rust_bin, write_job(out / "rs", "sample", omniglot_background, params, seed=seed))
    assert py.returncode == 0, py.stderr
    assert rs.returncode == 0, rs.stderr
    a = (out / "py" / "pairs.tsv").read_bytes()
    b = (out / "rs" / "pairs.tsv").read_bytes()
    assert a.count(b"\n") == 5002
    assert a == b


def test_decoded_pixels_are_identical(
    omniglot_small1: Path, rust_bin: Path, tmp_path: Path
) -> None:
    sample = run_rust(
        rust_bin, write_job(tmp_path / "s", "sample", omniglot_small1, {"pairs": 400})
    )
    assert sample.returncode == 0, sample.stderr
    pairs = str(tmp_path / "s" / "pairs.tsv")
    for source, extra in (("pairs", {"pairs": pairs}), ("dataset", {})):
        params = {"source": source}
        py = run_python(
            write_job(tmp_path / f"py-{source}", "load", omniglot_small1, params, **extra)
        )
        rs = run_rust(
            rust_bin, write_job(tmp_path / f"rs-{source}", "load", omniglot_small1, params, **extra)
        )
        assert py.returncode == 0, py.stderr
        assert rs.returncode == 0, rs.stderr
        a = load_file(str(tmp_path / f"py-{source}" / "images.safetensors"))
        b = load_file(str(tmp_path / f"rs-{source}" / "images.safetensors"))
        assert sorted(a) == sorted(b)
        for name in a:
            assert a[name].shape == b[name].shape and (a[name] == b[name]).all(), name
        if source == "dataset":
            assert a["images"].shape == (2720, 1379)
            assert a["images"].any()
