"""The job protocol (docs/protocol.md) for PyTorch used plainly (plain_net.py): `step`, `forward`.

    python plain_job.py run JOB.json         # one job: events on stdout, result.json and outputs
    python plain_job.py check JOB.json...    # validate jobs as `run` does, run none
    python plain_job.py version              # a JSON object of versions

Nothing of the project is imported (stdlib json, numpy, Pillow, safetensors, torch): it reads
the job's pair file (TSV) and decodes its PNGs with Pillow, reads the shared initial weights
(safetensors), and writes what python-torch writes (`weights`/`grads`/`outputs.safetensors`,
the same metrics), so the harness's checks and the float64 referee judge it like any other.
Every other task is refused (exit 2) as not implemented; its manifest declares `tasks:`, so
the harness never sends one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

IMPL = "python-torch-plain"
TASKS = {  # params: name -> (kind, minimum, maximum)
    "forward": {"batch": (int, 1, 10**6), "warmup_batches": (int, 0, 10**6)},
    "step": {
        "steps": (int, 1, 10**6), "batch": (int, 1, 10**6), "warmup_steps": (int, 0, 10**6),
        "save_gradients": (bool, 0, 1), "init": (str, 0, 0),
    },
}  # fmt: skip
JOB_KEYS = {"format_version", "task", "seed", "threads", "device", "out_dir", "dataset", "inputs",
            "model", "optimizer", "augment", "params"}  # fmt: skip
T0 = time.perf_counter()


class JobError(Exception):
    """A bad job or input (exit 2) or a failure while running (exit 1)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def event(kind: str, **fields: Any) -> None:
    print(
        json.dumps({"event": kind, "t": round(time.perf_counter() - T0, 6), **fields}), flush=True
    )


def validate(job: Any) -> dict[str, Any]:
    """The job, or JobError naming the first bad key."""
    if not isinstance(job, dict):
        raise JobError("job: expected a JSON object")
    for key in job:
        if key not in JOB_KEYS:
            raise JobError(f"{key}: unknown job field")
    if job.get("format_version") != 1:
        raise JobError(f"format_version: got {job.get('format_version')!r}, expected 1")
    if job.get("task") not in TASKS:
        raise JobError(f"task: {job.get('task')!r} is not implemented by {IMPL} (step, forward)")
    if job.get("device", "cpu") != "cpu":
        raise JobError(f"device: got {job['device']!r}, expected cpu")
    threads = job.get("threads")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise JobError(f"threads: got {threads!r}, expected an integer >= 1")
    model = job.get("model")
    if not isinstance(model, dict) or set(model) - {"conv"} != {
        "filters", "kernels", "embedding", "input"
    }:  # fmt: skip
        raise JobError(f"model: got {model!r}, expected filters, kernels, embedding, input")
    params = job.get("params")
    if not isinstance(params, dict):
        raise JobError("params: expected an object")
    for key, value in params.items():
        if key not in TASKS[job["task"]]:
            raise JobError(f"params.{key}: unknown parameter of {job['task']}")
        kind, low, high = TASKS[job["task"]][key]
        if kind is str:
            if value not in ("paper", "he"):
                raise JobError(f"params.{key}: got {value!r}, expected paper or he")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise JobError(f"params.{key}: got {value!r}, expected {kind.__name__}")
        elif kind is int and not low <= value <= high:
            raise JobError(f"params.{key}: got {value}, expected an integer in [{low}, {high}]")
    if not (job.get("inputs") or {}).get("pairs"):
        raise JobError("inputs.pairs: expected a pair file")
    return job


def read_pairs(path: str, root: str) -> tuple[list[str], list[str], list[float]]:
    """A pair file (docs/sampling.md, "The pair file"): left paths, right paths, labels."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise JobError(f"inputs.pairs: cannot read {path}: {e.strerror}") from None
    if not lines or lines[0] != "left\tright\tlabel":
        raise JobError(f"{path}: line 1: expected the header left<TAB>right<TAB>label")
    left, right, labels = [], [], []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or fields[2] not in ("0", "1"):
            raise JobError(f"{path}: line {n}: expected left, right and a label 0 or 1")
        for p in fields[:2]:
            if p.startswith("/") or ".." in p.split("/"):
                raise JobError(f"{path}: line {n}: {p!r} is not a path under the data set root")
        left.append(os.path.join(root, fields[0]))
        right.append(os.path.join(root, fields[1]))
        labels.append(float(fields[2]))
    if not labels:
        raise JobError(f"{path}: no pairs")
    return left, right, labels


def decode(paths: list[str]) -> Any:
    """(N, 105, 105) booleans, True = ink (PNG value 0), each distinct file decoded once."""
    import numpy as np
    from PIL import Image

    cache: dict[str, Any] = {}
    for p in paths:
        if p not in cache:
            try:
                with Image.open(p) as image:
                    if image.size != (105, 105) or image.mode != "1":
                        raise JobError(f"{p}: expected a 105x105 1-bit PNG")
                    cache[p] = ~np.asarray(image)
            except OSError as e:
                raise JobError(f"{p}: cannot read the image: {e}") from None
    return np.stack([cache[p] for p in paths])


def run(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Run a validated job; its (metrics, outputs)."""
    import plain_net
    import torch
    from safetensors.torch import load_file, save_file

    plain_net.set_up(job["threads"])
    m, params, out = job["model"], job["params"], Path(job["out_dir"])
    net = plain_net.Siamese(m["filters"], m["kernels"], m["embedding"], m["input"])
    event("phase", name="load", state="begin")
    weights = job["inputs"].get("weights")
    if weights:
        try:
            state = load_file(weights)
        except (OSError, ValueError, RuntimeError) as e:
            raise JobError(f"inputs.weights: cannot read {weights}: {e}") from None
        expected = net.state_dict()
        if extra := sorted(set(state) - set(expected)):
            raise JobError(f"{weights}: unexpected tensor {extra[0]}")
        for name, tensor in expected.items():
            if name not in state or state[name].shape != tensor.shape:
                found = list(state[name].shape) if name in state else "nothing"
                raise JobError(f"{weights}: tensor {name}: expected {list(tensor.shape)}, "
                               f"found {found}")  # fmt: skip
        net.load_state_dict(state)
    else:
        torch.manual_seed(job["seed"] & (2**63 - 1))
        (plain_net.he_init if params.get("init") == "he" else plain_net.paper_init)(net)
    net = net.to(memory_format=torch.channels_last)
    root = job["dataset"]["root"]
    left_paths, right_paths, label_list = read_pairs(job["inputs"]["pairs"], root)
    ink1, ink2 = torch.from_numpy(decode(left_paths)), torch.from_numpy(decode(right_paths))
    labels = torch.tensor(label_list)
    event("phase", name="load", state="end")
    side, n = m["input"], len(label_list)
    flop = pair_forward_flop(m)
    if job["task"] == "step":
        return step(job, net, ink1, ink2, labels, out, save_file, 3 * flop)

    batch = params.get("batch", 64)
    emb1, emb2, logits = (
        torch.empty(n, m["embedding"]),
        torch.empty(n, m["embedding"]),
        torch.empty(n),
    )

    def batch_of(i: int) -> tuple[Any, Any]:
        s = slice(i * batch, (i + 1) * batch)
        return plain_net.images_to_input(ink1[s], side), plain_net.images_to_input(ink2[s], side)

    def keep(i: int, outputs: tuple[Any, Any, Any]) -> None:
        s = slice(i * batch, (i + 1) * batch)
        emb1[s], emb2[s], logits[s] = outputs

    warmup = params.get("warmup_batches", 1)
    event("phase", name="forward", state="begin")
    warm, seconds = plain_net.timed_forward(net, math.ceil(n / batch), batch_of, warmup, keep)
    event("phase", name="forward", state="end")
    save_file({"emb1": emb1, "emb2": emb2, "logits": logits}, str(out / "outputs.safetensors"))
    forward_s = sum(seconds)
    return {
        "pairs": n, "forward_s": forward_s, "pairs_per_s": n / forward_s,
        "gflop_per_s": n / forward_s * flop / 1e9, "first_batch_s": (warm or seconds)[0],
        "warmup_batches": warmup, "torch_threads": torch.get_num_threads(),
    }, {"outputs": "outputs.safetensors"}  # fmt: skip


def step(job: dict[str, Any], net: Any, ink1: Any, ink2: Any, labels: Any, out: Path,
         save_file: Any, train_flop: float) -> tuple[dict[str, Any], dict[str, str]]:  # fmt: skip
    """`step`: step k trains on pairs k*batch .. k*batch + batch - 1 (modulo N), at epoch 0."""
    import plain_net
    import torch

    params, side, n = job["params"], job["model"]["input"], len(labels)
    steps, batch = params.get("steps", 10), params.get("batch", 32)
    warmup, keep_grads = params.get("warmup_steps", 1), params.get("save_gradients", False)
    optimizer = plain_net.make_optimizer(net, job.get("optimizer") or {})

    def batch_of(k: int) -> plain_net.Batch:
        index = torch.arange(k * batch, k * batch + batch) % n
        return (plain_net.images_to_input(ink1[index], side),
                plain_net.images_to_input(ink2[index], side), labels[index])  # fmt: skip

    event("phase", name="step", state="begin")
    losses, seconds, grads = plain_net.timed_steps(net, optimizer, steps, batch_of, keep_grads)
    event("phase", name="step", state="end")
    for k, loss in enumerate(losses):
        if not math.isfinite(loss):
            raise JobError(f"step {k}: loss is {loss}, expected a finite number", 1)
    timed = seconds[warmup:] if steps > warmup else seconds
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out / "weights.safetensors"))
    outputs = {"weights": "weights.safetensors"}
    if keep_grads:
        save_file({k: v.contiguous() for k, v in grads.items()}, str(out / "grads.safetensors"))
        outputs["gradients"] = "grads.safetensors"
    pairs_per_s = batch * len(timed) / sum(timed)
    return {
        "losses": losses, "steps": steps, "timed_steps": len(timed),
        "step_s": sum(timed) / len(timed), "pairs_per_s": pairs_per_s,
        "gflop_per_s": pairs_per_s * train_flop / 1e9, "first_batch_s": seconds[0],
        "torch_threads": torch.get_num_threads(),
    }, outputs  # fmt: skip


def pair_forward_flop(m: dict[str, Any]) -> float:
    """A pair forward's FLOP (docs/protocol.md, "FLOPs"): twice an image's, plus 2 E (head)."""
    side, channels, total = m["input"], 1, 0.0
    for i, (f, k) in enumerate(zip(m["filters"], m["kernels"], strict=True)):
        side = (side if i == 0 else side // 2) - k + 1
        total += 2.0 * k * k * channels * f * side * side
        channels = f
    return 2 * (total + 2.0 * channels * side * side * m["embedding"]) + 2.0 * m["embedding"]


def write_result(job: dict[str, Any], ok: bool, error: str | None, metrics: dict[str, Any],
                 outputs: dict[str, str]) -> None:  # fmt: skip
    import torch

    result = {"format_version": 1, "impl": IMPL, "task": job["task"], "ok": ok, "error": error,
              "seed": job["seed"], "threads": job["threads"], "metrics": metrics,
              "outputs": outputs, "versions": versions(torch.__version__)}  # fmt: skip
    (Path(job["out_dir"]) / "result.json").write_text(json.dumps(result) + "\n", encoding="utf-8")


def versions(torch_version: str) -> dict[str, str]:
    return {"torch": torch_version, "python": platform.python_version()}


def read_job(path: str) -> dict[str, Any]:
    try:
        return validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as e:
        raise JobError(f"{path}: cannot read the job: {e}") from None


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        import torch

        print(json.dumps(versions(torch.__version__)))
        return 0
    if argv[:1] == ["check"] and len(argv) > 1:
        for path in argv[1:]:
            try:
                read_job(path)
                print(json.dumps({"job": path, "accepted": True, "exit_code": 0}))
            except JobError as e:
                line = {"job": path, "accepted": False, "exit_code": e.code, "error": str(e)}
                print(json.dumps(line))
        return 0
    if len(argv) != 2 or argv[0] != "run":
        print(
            "error: usage: plain_job.py run JOB.json | check JOB.json... | version", file=sys.stderr
        )
        return 2
    job: dict[str, Any] | None = None
    try:
        job = read_job(argv[1])
        event("start", impl=IMPL, task=job["task"], protocol=1)
        metrics, outputs = run(job)
        write_result(job, True, None, metrics, outputs)
        event("end", ok=True)
        return 0
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        if job is not None and os.path.isdir(job["out_dir"]):
            write_result(job, False, str(e), {}, {})
        event("end", ok=False)
        return e.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
