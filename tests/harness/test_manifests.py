"""impl.yaml manifests: the shipped ones load, and a bad one is one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.process import impls

GOOD = 'id: x\nlanguage: python\nrun: ["{python}", "-m", "x", "run", "{job}"]\n'
SHIPPED = (
    "python-torch", "python-torch-compile", "python-jax",
    "rust-native", "rust-tch", "rust-burn", "rust-candle", "python-torch-plain",
    "python-onnxruntime", "python-openvino", "rust-ort", "rust-tract",
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
    assert impl.tasks is None and impl.implements("train") and impl.implements("sample")


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
        (GOOD + "tasks: [stpe]\n", "tasks: ['stpe'], expected a list of distinct tasks out of"),
        (GOOD + "tasks: [step, step]\n", "tasks: ['step', 'step'], expected a list of distinct"),
        (GOOD + "tasks: []\n", "tasks: [], expected a list of distinct tasks out of sample"),
        (GOOD + "tasks: step\n", "tasks: 'step', expected a list of distinct tasks"),
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


def test_a_manifest_declares_the_tasks_it_implements(tmp_path: Path) -> None:
    path = tmp_path / "impl.yaml"
    path.write_text(GOOD + "tasks: [step, forward]\n")
    impl = impls.load_manifest(path)
    assert impl.tasks == ("step", "forward")
    assert impl.implements("step") and impl.implements("forward")
    assert not impl.implements("sample") and not impl.implements("evaluate")
    plain = impls.discover(impls.IMPLS_DIR)["python-torch-plain"]
    assert plain.tasks == ("forward", "step") and plain.language == "python"


def _impl(impl_id: str, tasks: tuple[str, ...] | None) -> impls.Implementation:
    return impls.Implementation(impl_id, "python", Path("."), ("x", "run", "{job}"), tasks=tasks)


def test_the_start_up_line_names_the_tasks_an_implementation_does_not_implement() -> None:
    full, partial = _impl("full", None), _impl("plain", ("step", "forward"))
    tasks = ["sample", "step", "load", "forward", "load"]
    note = impls.tasks_note(tasks, [full, partial])
    assert note == "not implemented, so not run: plain (sample, load)"
    assert impls.tasks_note(["step", "forward"], [full, partial]) is None
    assert impls.tasks_note(tasks, [full]) is None


def test_a_baseline_that_lacks_a_task_of_the_config_is_refused_in_one_line() -> None:
    full, partial = _impl("full", None), _impl("plain", ("step", "forward"))
    with pytest.raises(HarnessError) as info:
        impls.tasks_note(["step", "evaluate"], [partial, full])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("implementations: the baseline plain does not implement evaluate")


def test_conv_skip_direct_keeps_the_baseline_and_the_fft_implementations_at_an_fft_point() -> None:
    base, plain = _impl("base", None), _impl("plain", None)
    fft = impls.Implementation("fft", "rust", Path("."), ("x",), conv=("direct", "fft"))
    chosen = [base, plain, fft]
    fft_model = {"filters": [1, 2, 3, 4], "conv": ["direct", "fft", "fft", "fft"]}
    assert impls.conv_runners(fft_model, chosen, True) == [base, fft]
    assert impls.conv_runners(fft_model, chosen, False) == chosen  # the default: all run
    assert impls.conv_runners({"filters": [1, 2, 3, 4]}, chosen, True) == chosen  # direct point
    assert impls.conv_runners(None, chosen, True) == chosen
