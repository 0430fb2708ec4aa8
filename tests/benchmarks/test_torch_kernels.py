"""pytest-benchmark: what this machine's PyTorch kernels reach on the `paper` shape's biggest layer.

Calibrates the network benchmarks (README, "The network on the `paper` shape"): the issue
quotes about 440 GFLOP/s for one oneDNN convolution (conv2, batch 32, `channels_last`) and
about 20 training pairs/s for PyTorch at its best. Measure this machine's figures with

    pytest tests/benchmarks/test_torch_kernels.py --benchmark-enable

and read `gflop_per_s` in each row's extra info (computed from the median). In the test suite
(benchmarks disabled) each body runs once and only the output shapes are checked.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

THREADS = 2


@pytest.fixture(autouse=True)
def two_threads() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def record_rate(benchmark: Any, flop: float) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["gflop_per_s"] = round(flop / stats.stats.median / 1e9, 1)
    benchmark.extra_info["threads"] = THREADS


def test_conv2_forward_channels_last(benchmark: Any) -> None:
    """conv2 of the `paper` shape at batch 32: 64 -> 128 channels, 7x7 kernel, 48x48 -> 42x42."""
    batch = 32
    x = torch.randn(batch, 64, 48, 48).to(memory_format=torch.channels_last)
    w = torch.randn(128, 64, 7, 7).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.nn.functional.conv2d(x, w)  # oneDNN builds its primitive on the first call
        out = benchmark(torch.nn.functional.conv2d, x, w)
    assert out.shape == (batch, 128, 42, 42)
    record_rate(benchmark, 2.0 * batch * 128 * 42 * 42 * 64 * 7 * 7)


def test_sgemm_2048(benchmark: Any) -> None:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out = benchmark(torch.mm, a, b)
    assert out.shape == (2048, 2048)
    record_rate(benchmark, 2.0 * 2048**3)
