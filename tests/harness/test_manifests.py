"""impl.yaml manifests: the shipped ones load, and a bad one is one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.process import impls

GOOD = 'id: x\nlanguage: python\nrun: ["{python}", "-m", "x", "run", "{job}"]\n'
SHIPPED = (
    "python-torch", "python-torch-compile", "python-jax",
    "rust-native", "rust-tch", "rust-burn", "rust-candle",
)  # fmt: skip


def test_every_shipped_manifest_is_in_its_own_id_folder() -> None:
    found = impls.discover(impls.IMPLS_DIR)
    assert sorted(found) == sorted(SHIPPED)
    for impl_id, impl in found.items():
        assert impl.folder == impls.IMPLS_DIR / impl_id, impl_id


def test_a_good_manifest_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "impl.yaml"
    path.write_text(GOOD)
    impl = impls.load_manifest(path)
    assert impl.run == ("{python}", "-m", "x", "run", "{job}") and impl.folder == tmp_path
    assert impl.build is None and impl.version is None and impl.effort == {}
    assert impl.devices == ("cpu",) and impl.conv == ("direct",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "bulid: [make]\n", "unknown manifest key 'bulid'; expected id, language, build"),
        (GOOD.replace("id: x", "id: 7"), "id: expected a string, got 7"),
        (GOOD.replace("language: python\n", ""), "language: expected a string such as python"),
        ("id: x\nlanguage: rust\n", "run: expected a list of arguments, got None"),
        (GOOD.replace('"{job}"]', "3]"), "run: expected a list of arguments, got ["),
        (GOOD + "build: make\n", "build: expected a list of arguments, got 'make'"),
        (GOOD + "version: []\n", "version: expected a list of arguments, got []"),
        (GOOD + "devices: [tpu]\n", "devices: ['tpu'], expected a list of distinct devices"),
        (GOOD + "conv: [fft]\n", "conv: ['fft'], expected [direct] or [direct, fft]"),
        (
            GOOD + "effort: {network: [a], cargo: {manifest: Cargo.toml}}\n",
            "effort: {'network': ['a'], 'cargo': {'manifest': 'Cargo.toml'}}, expected {network",
        ),
        ("- id: x\n", "expected a mapping with id, language, run"),
    ],
)
def test_a_bad_manifest_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "impl.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError) as info:
        impls.load_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {expected}"), message


def test_the_first_bad_key_is_reported_in_manifest_order(tmp_path: Path) -> None:
    path = tmp_path / "impl.yaml"
    path.write_text("id: x\nlanguage: 1\nconv: [gemm]\n")
    with pytest.raises(HarnessError, match=r"impl.yaml: language: expected a string"):
        impls.load_manifest(path)
