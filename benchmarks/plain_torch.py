"""PyTorch used plainly: the yardstick that python-torch must match (README, "Python at its best").

A thin entry point on random inputs to the network of impls/python-torch-plain/plain_net.py (the
Koch et al. network written the way a PyTorch user would write it, nothing of the project
imported; the same file is the implementation `python-torch-plain` that configs/answer.yaml
runs through the harness): He initialisation, `torch.optim.SGD` (lr 1e-3, momentum 0.5, L2
2e-4 on weights), inputs built before the clock, untimed calls first, then the timed calls
(pairs over their summed seconds, as python-torch's timed section). Prints one JSON object per
measurement on stdout.

    python benchmarks/plain_torch.py --task step --batch 32 --threads 2
    python benchmarks/plain_torch.py --task forward --batch 64 --threads 2

`benchmarks/vs_plain_torch.py` runs this beside python-torch, interleaved, and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "impls" / "python-torch-plain"))

import plain_net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("step", "forward"), default="step")
    parser.add_argument("--preset", choices=sorted(plain_net.PRESETS), default="paper")
    parser.add_argument("--batch", type=int, default=32, help="pairs per call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls")
    args = parser.parse_args()

    import torch

    plain_net.set_up(args.threads)
    torch.manual_seed(0)
    filters, kernels, emb, side = plain_net.PRESETS[args.preset]
    net = plain_net.Siamese(filters, kernels, emb, side)
    plain_net.he_init(net)
    net = net.to(memory_format=torch.channels_last)
    images = torch.rand(2 * args.batch, 105, 105) < 0.1  # ink, ~10% of the pixels
    inputs = plain_net.images_to_input(images, side)
    left, right = inputs[: args.batch], inputs[args.batch :]
    labels = (torch.arange(args.batch) % 2).float()
    if args.task == "step":
        spec = {"name": "sgd", "lr": 1e-3, "momentum_start": 0.5, "l2": 2e-4}
        optimizer = plain_net.make_optimizer(net, spec)
        steps = args.warmup + args.repeats
        _, seconds, _ = plain_net.timed_steps(
            net, optimizer, steps, lambda _k: (left, right, labels), False
        )
        warm, times = seconds[: args.warmup], seconds[args.warmup :]
    else:
        warm, times = plain_net.timed_forward(
            net, args.repeats, lambda _i: (left, right), args.warmup, lambda _i, _o: None
        )
    timed_s = sum(times)  # as python-torch's timed section: pairs over the timed calls' sum
    print(
        json.dumps(
            {
                "impl": "plain-torch",
                "task": args.task,
                "preset": args.preset,
                "batch": args.batch,
                "threads": torch.get_num_threads(),
                "pairs_per_s": args.batch * len(times) / timed_s,
                "median_call_s": statistics.median(times),
                "warmup_s": sum(warm),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
