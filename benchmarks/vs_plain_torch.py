"""python-torch against PyTorch used plainly (benchmarks/plain_torch.py), side by side in one run.

For each measurement (`paper` shape: step at batch 32 and 128, forward at batch 64) the two
programs run as fresh processes, interleaved A B A B, `--repeats` times. python-torch runs its
ordinary protocol job (`python -m oneshot_torch run JOB.json`, as the harness starts it, with
the harness's thread variables) with the same warm-up (2 untimed calls) and the same number of
timed calls as the plain script; each figure is pairs/s of the timed calls. Prints a table of
medians and the ratio python-torch / plain with a paired bootstrap 95% interval (harness.stats).

    python benchmarks/vs_plain_torch.py --data data/omniglot/images_background --threads 2

About 6 minutes on 2 cores with the defaults. Results go to stdout as a table and, with
`--json FILE`, as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.analysis.stats import compare_samples  # noqa: E402
from harness.run.presets import resolve_model  # noqa: E402

WARMUP, TIMED = 2, 5
MEASUREMENTS = (("step", 32), ("step", 128), ("forward", 64))


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[name] = str(threads)
    return env


def run_job(job: dict[str, Any], folder: Path, threads: int) -> dict[str, Any]:
    """One python-torch protocol job in a fresh process; its result.json."""
    folder.mkdir(parents=True, exist_ok=True)
    job = {**job, "out_dir": str(folder), "threads": threads}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "oneshot_torch", "run", str(folder / "job.json")],
        capture_output=True,
        text=True,
        env=thread_env(threads),
        check=False,
    )
    result: dict[str, Any] = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    if proc.returncode != 0:
        raise SystemExit(f"error: python-torch job {job['task']} failed: {result.get('error')}")
    return result


def run_plain(task: str, batch: int, preset: str, threads: int) -> float:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "plain_torch.py"), "--task", task,
         "--batch", str(batch), "--preset", preset, "--threads", str(threads),
         "--warmup", str(WARMUP), "--repeats", str(TIMED)],
        capture_output=True, text=True, env=thread_env(threads), check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"error: plain_torch.py failed: {proc.stderr.strip()[-300:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["pairs_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="Omniglot images_background")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: --data {args.data}: not a folder, expected images_background")
    model = dict(resolve_model({"preset": args.preset}))
    work = Path(tempfile.mkdtemp(prefix="vs-plain-"))
    base: dict[str, Any] = {
        "format_version": 1,
        "seed": 11,
        "dataset": {"root": str(args.data.resolve()), "eval_root": None},
        "inputs": {"pairs": None, "weights": None},
        "model": None,
    }
    sample = run_job({**base, "task": "sample", "params": {"pairs": 1024}}, work / "s", 1)
    pairs = str(work / "s" / sample["outputs"]["pairs"])
    init_job = {**base, "task": "init", "model": model, "params": {"init": "he"}}
    init = run_job(init_job, work / "i", 1)
    weights = str(work / "i" / init["outputs"]["weights"])
    net_job = {**base, "model": model, "inputs": {"pairs": pairs, "weights": weights}}
    rows, report = [], {}
    for task, batch in MEASUREMENTS:
        if task == "step":
            params: dict[str, Any] = {"steps": WARMUP + TIMED, "batch": batch,
                                      "warmup_steps": WARMUP}  # fmt: skip
            optimizer: dict[str, Any] = {"name": "sgd", "lr": 0.001, "momentum": 0.5,
                                         "momentum_start": 0.5}  # fmt: skip
            job = {**net_job, "task": "step", "params": params, "optimizer": optimizer}
        else:
            params = {"batch": batch, "warmup_batches": WARMUP}
            job = {**net_job, "task": "forward", "params": params}
            # forward reads its pairs from the file: exactly TIMED batches of them
            subset = work / f"pairs-{batch * TIMED}.tsv"
            lines = Path(pairs).read_text(encoding="utf-8").splitlines()
            subset.write_text("\n".join(lines[: 1 + batch * TIMED]) + "\n", encoding="utf-8")
            job["inputs"] = {"pairs": str(subset), "weights": weights}
        plain, ours = [], []
        for repeat in range(args.repeats):
            plain.append(run_plain(task, batch, args.preset, args.threads))
            result = run_job(job, work / f"{task}{batch}-{repeat}", args.threads)
            ours.append(float(result["metrics"]["pairs_per_s"]))
            print(f"{task} b{batch} repeat {repeat + 1}: plain {plain[-1]:.2f}, "
                  f"python-torch {ours[-1]:.2f} pairs/s", file=sys.stderr)  # fmt: skip
        ratio = compare_samples(plain, ours, paired=True)
        key = f"{task}_b{batch}"
        report[key] = {"plain": plain, "python_torch": ours, "ratio": ratio.ratio,
                       "ci": [ratio.ci_low, ratio.ci_high], "p": ratio.p_value}  # fmt: skip
        rows.append(f"| {task} b{batch} | {statistics.median(plain):.2f} | "
                    f"{statistics.median(ours):.2f} | {ratio.ratio:.3f} "
                    f"[{ratio.ci_low:.3f}, {ratio.ci_high:.3f}] |")  # fmt: skip
    print(f"`{args.preset}`, {args.threads} threads, {args.repeats} interleaved repeats, "
          f"{WARMUP} warm-up + {TIMED} timed calls each (pairs/s, medians)\n")  # fmt: skip
    print("| task | plain PyTorch | python-torch | python-torch / plain [95% CI] |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
