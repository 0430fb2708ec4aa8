"""`python -m oneshot_torch export-onnx` (docs/protocol.md, "The ONNX export"): the graph's one
input and one output, its opset, the weights inside it under their interchange names, and bad
input refused in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from safetensors.numpy import load_file, save_file

from .conftest import MODEL, SHAPE, Fixture


def dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in shape.dim]


def test_the_export_has_one_input_images_and_one_output_embeddings(
    onnx_fixture: Fixture,
) -> None:
    model = onnx.load(onnx_fixture.onnx)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["embeddings"]
    (images,), (embeddings,) = model.graph.input, model.graph.output
    float32 = onnx.TensorProto.FLOAT
    assert images.type.tensor_type.elem_type == embeddings.type.tensor_type.elem_type == float32
    batch, *rest = dims(images)
    assert isinstance(batch, str) and batch  # a symbolic batch dimension
    assert rest == [1, SHAPE.input, SHAPE.input]
    assert dims(embeddings) == [batch, SHAPE.embedding]
    assert [(o.domain, o.version) for o in model.opset_import if o.domain == ""] == [("", 18)]


def test_the_export_stores_the_tower_weights_inside_under_their_names(
    onnx_fixture: Fixture,
) -> None:
    model = onnx.load(onnx_fixture.onnx, load_external_data=False)
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    weights = load_file(onnx_fixture.weights)
    tower = {k: v for k, v in weights.items() if not k.startswith("out.")}
    assert set(tower) <= set(stored) and not any(k.startswith("out.") for k in stored)
    for name, value in tower.items():
        assert (stored[name] == value).all(), name
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("Conv") == 4 and ops.count("MaxPool") == 3 and ops[-1] == "Sigmoid"


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The verb in this process (torch imported once): its exit code and its one stderr line;
    nothing on stdout."""
    from oneshot_torch.cli import main

    try:
        code = main(["export-onnx", *args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", (lines, captured.out)
    return code, lines[0]


def test_bad_input_is_one_line_and_exit_2(
    onnx_fixture: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "m.onnx")
    weights = str(onnx_fixture.weights)
    model = json.dumps(MODEL)
    three_layers, wider = {**MODEL, "kernels": [5, 3, 2]}, {**MODEL, "embedding": 33}
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(onnx_fixture.weights.read_bytes()[:100])
    tensors = load_file(onnx_fixture.weights)
    extra = tmp_path / "extra.safetensors"
    save_file({**tensors, "extra": tensors["out.bias"]}, extra)
    cases = {
        "not json": (["--weights", weights, "--model", "{", "--out", out], "--model: not JSON"),
        "unknown key": (
            ["--weights", weights, "--model", json.dumps({**MODEL, "x": 1}), "--out", out],
            "model.x: unknown field",
        ),
        "three layers": (
            ["--weights", weights, "--model", json.dumps(three_layers), "--out", out],
            "model.kernels: got 3 items, expected 4",
        ),
        "impossible shape": (
            ["--weights", weights, "--model", json.dumps({**MODEL, "input": 8}), "--out", out],
            "model: conv",
        ),
        "missing weights": (
            ["--weights", str(tmp_path / "none"), "--model", model, "--out", out],
            "none: no such file",
        ),
        "mismatched weights": (
            ["--weights", weights, "--model", json.dumps(wider), "--out", out],
            "tensor fc1.weight has shape [32, 16], expected [33, 16]",
        ),
        "truncated weights": (
            ["--weights", str(truncated), "--model", model, "--out", out],
            "not a readable safetensors file",
        ),
        "extra tensor": (
            ["--weights", str(extra), "--model", model, "--out", out],
            "unexpected tensor extra",
        ),
        "no out folder": (
            ["--weights", weights, "--model", model, "--out", "/nonexistent/m.onnx"],
            "--out: /nonexistent is not an existing folder",
        ),
        "missing flag": (["--weights", weights], "the following arguments are required"),
    }
    for case, (args, expected) in cases.items():
        code, line = export(capsys, *args)
        assert code == 2, (case, line)
        assert line.startswith("error: ") and expected in line, (case, line)
    assert not list(tmp_path.glob("*onnx*"))
