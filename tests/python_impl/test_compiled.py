"""python-torch-compile: the same tasks through torch.compile, as subprocesses (real inductor).

The tiny network keeps inductor's C++ compilation to seconds. Each test checks that the compiled
program computes what python-torch computes, that compilation stays out of the timed section
(`compile_s` reported, one graph compiled, no recompile in the timed loop) and that it reports
its own implementation id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from harness.data.synthetic import write_synthetic

pytestmark = pytest.mark.slow

TINY = {"filters": [4, 8, 8, 16], "kernels": [5, 3, 2, 2], "embedding": 32, "input": 32}


def run(
    module: str, out: Path, task: str, root: Path, params: dict[str, Any], **inputs: Any
) -> Any:
    out.mkdir(parents=True)
    job = {
        "format_version": 1,
        "task": task,
        "seed": 3,
        "threads": 1,
        "out_dir": str(out),
        "dataset": {"root": str(root), "eval_root": inputs.pop("eval_root", None)},
        "inputs": {"pairs": inputs.get("pairs"), "weights": inputs.get("weights")},
        "model": None if task == "sample" else TINY,
        "params": params,
    }
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", module, "run", str(out / "job.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / "result.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compiled")
    write_synthetic(base / "train", alphabets=3, characters=6, drawers=6, seed=0)
    write_synthetic(base / "eval", alphabets=2, characters=6, drawers=4, seed=1)
    root = base / "train"
    run("oneshot_torch", base / "sample", "sample", root, {"pairs": 40})
    run("oneshot_torch", base / "init", "init", root, {"init": "he"})
    return {
        "root": root,
        "eval": base / "eval",
        "pairs": base / "sample" / "pairs.tsv",
        "weights": base / "init" / "weights.safetensors",
        "base": base,
    }


def test_compiled_forward_matches_eager_and_compiles_outside_the_timed_calls(
    inputs: dict[str, Path],
) -> None:
    outputs = {}
    for module in ("oneshot_torch", "oneshot_torch.compiled"):
        result = run(
            module,
            inputs["base"] / f"forward-{module}",
            "forward",
            inputs["root"],
            {"batch": 8, "warmup_batches": 1},
            pairs=str(inputs["pairs"]),
            weights=str(inputs["weights"]),
        )
        outputs[result["impl"]] = load_file(
            str(inputs["base"] / f"forward-{module}" / "outputs.safetensors")
        )
        metrics = result["metrics"]
        if module == "oneshot_torch.compiled":
            assert result["impl"] == "python-torch-compile"
            assert result["versions"]["torch_compile"].startswith("inductor")
            # 40 pairs at batch 8: five calls of one shape, one graph, compiled in the warm-up.
            assert metrics["compiled_graphs"] == 1
            assert metrics["compile_s"] > 0
            assert metrics["first_batch_s"] > metrics["compile_s"]
            assert "ops_per_call" not in metrics  # not counted around a compiled function
        else:
            assert "compile_s" not in metrics
            assert type(metrics["ops_per_call"]) is int and metrics["ops_per_call"] > 0
    for name in ("emb1", "emb2", "logits"):
        np.testing.assert_allclose(
            outputs["python-torch-compile"][name], outputs["python-torch"][name], atol=1e-5
        )


def test_compiled_step_trains_like_eager(inputs: dict[str, Path]) -> None:
    losses = {}
    for module in ("oneshot_torch", "oneshot_torch.compiled"):
        result = run(
            module,
            inputs["base"] / f"step-{module}",
            "step",
            inputs["root"],
            {"steps": 4, "batch": 8},
            pairs=str(inputs["pairs"]),
            weights=str(inputs["weights"]),
        )
        losses[module] = result["metrics"]["losses"]
    np.testing.assert_allclose(losses["oneshot_torch.compiled"], losses["oneshot_torch"], atol=1e-5)


def test_compiled_evaluate_pads_its_last_batch_instead_of_recompiling(
    inputs: dict[str, Path],
) -> None:
    params = {"protocol": "koch", "ways": 5, "trials": 10, "batch": 16}
    results = {
        module: run(
            module,
            inputs["base"] / f"evaluate-{module}",
            "evaluate",
            inputs["root"],
            params,
            weights=str(inputs["weights"]),
            eval_root=str(inputs["eval"]),
        )
        for module in ("oneshot_torch", "oneshot_torch.compiled")
    }
    compiled = results["oneshot_torch.compiled"]["metrics"]
    assert compiled["images"] % 16 != 0  # a short last batch exists, and it did not recompile
    assert compiled["compiled_graphs"] == 1
    assert compiled["accuracy"] == results["oneshot_torch"]["metrics"]["accuracy"]
