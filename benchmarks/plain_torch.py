"""PyTorch used plainly: the yardstick that python-torch must match (README, "Python at its best").

The Koch et al. network written the way a PyTorch user would write it in one file, with nothing
of the project imported: both towers in one batched call, channels_last, `torch.optim.SGD`
(momentum 0.5, one parameter group), glibc told to keep freed memory (as
oneshot_torch/allocator.py does), inputs built before the clock, untimed calls first, then the
timed calls (pairs over their summed seconds, as python-torch's timed section). Prints one JSON
object per measurement on stdout.

    python benchmarks/plain_torch.py --task step --batch 32 --threads 2
    python benchmarks/plain_torch.py --task forward --batch 64 --threads 2

`benchmarks/vs_plain_torch.py` runs this beside python-torch, interleaved, and prints the ratios.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import time

PRESETS = {  # filters, kernels, embedding, input (docs/protocol.md, "Presets")
    "paper": ((64, 128, 128, 256), (10, 7, 4, 4), 4096, 105),
    "cpu": ((32, 64, 64, 128), (10, 7, 4, 4), 1024, 105),
    "small": ((32, 64, 64, 128), (5, 5, 3, 3), 1024, 52),
    "tiny": ((4, 8, 8, 16), (5, 3, 2, 2), 32, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("step", "forward"), default="step")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--batch", type=int, default=32, help="pairs per call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls")
    args = parser.parse_args()

    libc = ctypes.CDLL(None)  # keep freed memory: no mmap per big block, no heap trimming
    libc.mallopt(-4, 0)
    libc.mallopt(-1, 2**31 - 1)

    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    (f1, f2, f3, f4), (k1, k2, k3, k4), emb, side = PRESETS[args.preset]

    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(1, f1, k1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(f1, f2, k2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(f2, f3, k3), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(f3, f4, k4), nn.ReLU(),
            )  # fmt: skip
            with torch.no_grad():
                flat = self.conv(torch.zeros(1, 1, side, side)).numel()
            self.fc1 = nn.Linear(flat, emb)
            self.out = nn.Linear(emb, 1)
            for m in self.modules():  # He initialisation
                if isinstance(m, nn.Conv2d | nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            x = self.conv(torch.cat((a, b)).contiguous(memory_format=torch.channels_last))
            e = torch.sigmoid(self.fc1(x.contiguous().flatten(1)))
            return self.out(torch.abs(e[: len(a)] - e[len(a) :])).squeeze(1)

    net = Siamese().to(memory_format=torch.channels_last)
    images = (torch.rand(2 * args.batch, 1, side, side) < 0.1).float()  # ink 1.0, ~10% ink
    left, right = images[: args.batch], images[args.batch :]
    labels = (torch.arange(args.batch) % 2).float()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.5, weight_decay=2e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(net(left, right), labels)
        loss.backward()
        loss.item()
        optimizer.step()

    def forward() -> None:
        with torch.inference_mode():
            net(left, right)

    call = step if args.task == "step" else forward
    net.train(args.task == "step")
    first = time.perf_counter()
    for _ in range(args.warmup):
        call()
    first_batch_s = time.perf_counter() - first
    times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
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
                "warmup_s": first_batch_s,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
