"""A fake implementation for deterministic harness tests (never a stand-in for a real one).

    python fake_impl.py [--sleep-s S] [--alloc-mb M] [--mode MODE] [--rate R]
        [--jitter F --jitter-seed N] [--losses N] [--gflop-per-s G]
        [--overhead-s O --s-per-gflop C [--ops-per-call N]]
        [--val-curve A,B,.. --accuracy A --seed-spread S]
        [--curve-offset D --curve-per-thread T] run JOB.json

It speaks protocol v1: prints events, allocates and touches M MiB, sleeps S seconds and writes a
result.json whose throughput metric is R (pairs_per_s / images_per_s), times a deterministic
factor in [1-F, 1+F] drawn from the job folder's name and N when --jitter is given (noise that
is the same on every machine). --losses N prints N `loss` metric events; --gflop-per-s reports G.
For `sample` it writes a pair file whose content depends on --variant, for `load` an
images.safetensors of zeros, for `init` a weights file, for `forward` outputs of zeros.
--overhead-s/--s-per-gflop model a cost per call of O + C * GFLOP (a forward or step of `batch`
pairs of the job's model, `sum(filters) * embedding * input` FLOP per pair): pairs_per_s and
gflop_per_s follow from it, so two fakes with different O and C cross over at a known size;
--ops-per-call N also reports N operator calls per call (python-torch's `ops_per_call`).
`train` prints the --val-curve as `val_accuracy` events 50 ms apart, each plus an offset drawn
from the job's seed (uniform in +-S/2), reports its best as best_val_accuracy and writes the
seed as its weights; `step` reports 5 `losses` 0.7 * 0.9^k * (1 + D + T * threads) for k >= 1
(so a rerun at another thread count differs by T); `evaluate` reads that seed back from
inputs.weights and reports accuracy = A + the same offset, so a test can tell which training's
weights it was given.
MODE: ok, badevents (a non-JSON stdout line), crash (exit 3), signal (SIGKILL itself),
hang (sleep forever), badjson (malformed result.json), schema (schema-violating result.json),
noresult, spawn (a grandchild that hangs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

T0 = time.perf_counter()


def event(**data: object) -> None:
    print(json.dumps({"t": time.perf_counter() - T0, **data}), flush=True)


def jitter(args: argparse.Namespace, out: Path) -> float:
    if not args.jitter:
        return 1.0
    digest = hashlib.sha256(f"{args.jitter_seed}/{out.name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return float(1.0 + args.jitter * (2 * u - 1))


def offset(args: argparse.Namespace, seed: int) -> float:
    """A deterministic accuracy offset of one training seed, uniform in [-S/2, S/2)."""
    digest = hashlib.sha256(f"{args.jitter_seed}/{seed}".encode()).digest()
    return float(args.seed_spread * (int.from_bytes(digest[:8], "big") / 2**64 - 0.5))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sleep-s", type=float, default=0.0)
    p.add_argument("--alloc-mb", type=int, default=0)
    p.add_argument("--mode", default="ok")
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--variant", default="a")
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--jitter-seed", type=int, default=0)
    p.add_argument("--losses", type=int, default=0)
    p.add_argument("--gflop-per-s", type=float, default=None)
    p.add_argument("--overhead-s", type=float, default=None)
    p.add_argument("--s-per-gflop", type=float, default=0.0)
    p.add_argument("--ops-per-call", type=int, default=None)
    p.add_argument("--val-curve", default="")
    p.add_argument("--curve-offset", type=float, default=0.0)
    p.add_argument("--curve-per-thread", type=float, default=0.0)
    p.add_argument("--accuracy", type=float, default=0.5)
    p.add_argument("--seed-spread", type=float, default=0.0)
    p.add_argument("verb")
    p.add_argument("job", type=Path)
    args = p.parse_args()
    job = json.loads(args.job.read_text())
    out = Path(job["out_dir"])
    event(event="start", impl="fake", task=job["task"], protocol=1)
    event(event="phase", name="work", state="begin")
    block = bytearray(args.alloc_mb << 20)
    for i in range(0, len(block), 4096):  # touch every page so it is resident
        block[i] = 1
    if args.mode == "spawn":
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        time.sleep(600)
    if args.mode == "hang":
        time.sleep(600)
    time.sleep(args.sleep_s)
    for step in range(args.losses):
        event(event="metric", name="loss", value=0.7 * 0.9**step, step=step)
    event(event="progress", done=1, total=1, unit="jobs")
    event(event="phase", name="work", state="end")
    if args.mode == "badevents":
        print("this is not an event", flush=True)
    if args.mode == "crash":
        print("error: fake crash as asked", file=sys.stderr)
        return 3
    if args.mode == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    outputs: dict[str, str] = {}
    if job["task"] == "sample":
        lines = ["left\tright\tlabel"] + [
            f"A/c{i}/{args.variant}.png\tA/c{i}/x.png\t{i % 2}" for i in range(10)
        ]
        (out / "pairs.tsv").write_text("\n".join(lines) + "\n")
        outputs["pairs"] = "pairs.tsv"
    quality: dict[str, float] = {}
    if job["task"] == "train":
        event(event="phase", name="train", state="begin")
        curve = [float(v) + offset(args, job["seed"]) for v in args.val_curve.split(",") if v]
        for step, value in enumerate(curve):
            time.sleep(0.05)
            event(event="metric", name="val_accuracy", value=value, step=step)
        event(event="phase", name="train", state="end")
        (out / "weights.safetensors").write_text(str(job["seed"]))
        outputs["weights"] = "weights.safetensors"
        if curve:
            quality["best_val_accuracy"] = max(curve)
    if job["task"] == "evaluate" and job["inputs"]["weights"]:
        seed = int(Path(job["inputs"]["weights"]).read_text())
        quality["accuracy"] = args.accuracy + offset(args, seed)
    if job["task"] in ("init", "forward"):
        import numpy as np
        from safetensors.numpy import save_file
    if job["task"] == "init":  # a valid file without the network's tensors
        save_file({"fake": np.zeros(1, dtype=np.float32)}, str(out / "weights.safetensors"))
        outputs["weights"] = "weights.safetensors"
    if job["task"] == "forward":
        zeros = {k: np.zeros((2, 2), dtype=np.float32) for k in ("emb1", "emb2", "logits")}
        save_file(zeros, str(out / "outputs.safetensors"))
        outputs["outputs"] = "outputs.safetensors"
    metric = {"sample": "pairs_per_s", "load": "images_per_s"}.get(job["task"], "pairs_per_s")
    result = {
        "format_version": 1,
        "impl": "fake",
        "task": job["task"],
        "ok": True,
        "error": None,
        "metrics": {metric: args.rate * jitter(args, out), "task_s": args.sleep_s},
        "outputs": outputs,
        "versions": {"fake": "1"},
    }
    result["metrics"].update(quality)
    if job["task"] == "step":
        drift = 1 + args.curve_offset + args.curve_per_thread * job["threads"]
        result["metrics"]["losses"] = [0.7 * 0.9**k * (drift if k else 1) for k in range(5)]
    if args.gflop_per_s is not None:
        result["metrics"]["gflop_per_s"] = args.gflop_per_s
    if args.overhead_s is not None and job.get("model"):
        model = job["model"]
        gflop_pair = sum(model["filters"]) * model["embedding"] * model["input"] * 1e-9
        batch = job["params"].get("batch", 64)
        seconds = (args.overhead_s + args.s_per_gflop * batch * gflop_pair) * jitter(args, out)
        result["metrics"]["pairs_per_s"] = batch / seconds
        result["metrics"]["gflop_per_s"] = batch * gflop_pair / seconds
        if args.ops_per_call is not None:
            result["metrics"]["ops_per_call"] = args.ops_per_call
    if args.mode == "schema":
        result["metrics"] = {"x": "not a number"}
    text = json.dumps(result)
    if args.mode == "badjson":
        text = text[:-5]
    if args.mode != "noresult":
        (out / "result.json").write_text(text)
    event(event="end", ok=True)
    del block
    return 0


if __name__ == "__main__":
    sys.exit(main())
