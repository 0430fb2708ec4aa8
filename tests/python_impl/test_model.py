"""SiameseNet: shapes, parameter count, FLOP counts, the batched-tower path, gradients, init."""

from __future__ import annotations

import pytest
import torch
from oneshot_common.errors import InputError
from oneshot_common.flops import image_forward_flop, pair_forward_flop, train_pair_flop
from oneshot_torch.model import (
    PRESETS,
    Shape,
    SiameseNet,
    init_he,
    init_paper,
    pair_loss,
    parameter_count,
    prepare_images,
    tensor_shapes,
)
from torch.func import functional_call

TINY = PRESETS["tiny"]
# Small enough for a float64 gradient check: 20 -> 18 -> 9 -> 8 -> 4 -> 3 -> 1 -> 1.
MICRO = Shape((2, 3, 3, 4), (3, 2, 2, 1), 5, 20)


def test_paper_preset_has_the_published_shape_and_parameter_count() -> None:
    shapes = tensor_shapes(PRESETS["paper"])
    assert shapes == {
        "conv1.weight": (64, 1, 10, 10),
        "conv1.bias": (64,),
        "conv2.weight": (128, 64, 7, 7),
        "conv2.bias": (128,),
        "conv3.weight": (128, 128, 4, 4),
        "conv3.bias": (128,),
        "conv4.weight": (256, 128, 4, 4),
        "conv4.bias": (256,),
        "fc1.weight": (4096, 9216),
        "fc1.bias": (4096,),
        "out.weight": (1, 4096),
        "out.bias": (1,),
    }
    assert parameter_count(PRESETS["paper"]) == 38_951_745
    net = SiameseNet(PRESETS["paper"])
    assert sum(p.numel() for p in net.parameters()) == 38_951_745
    assert {n: tuple(p.shape) for n, p in net.named_parameters()} == shapes


def test_paper_flop_counts_match_the_published_figures() -> None:
    paper = PRESETS["paper"]
    # conv1..conv4 and fc1, 2 FLOP per multiply-add.
    by_hand = 2 * (
        100 * 1 * 64 * 96 * 96
        + 49 * 64 * 128 * 42 * 42
        + 16 * 128 * 128 * 18 * 18
        + 16 * 128 * 256 * 6 * 6
        + 9216 * 4096
    )
    assert image_forward_flop(paper) == by_hand
    assert pair_forward_flop(paper) / 1e9 == pytest.approx(3.63, abs=0.01)
    assert train_pair_flop(paper) / 1e9 == pytest.approx(10.9, abs=0.01)


def test_forward_gives_embeddings_and_one_logit_per_pair() -> None:
    net = SiameseNet(TINY)
    left, right = torch.rand(3, 1, 32, 32), torch.rand(3, 1, 32, 32)
    emb1, emb2, logits = net(left, right)
    assert emb1.shape == (3, TINY.embedding) and emb2.shape == (3, TINY.embedding)
    assert logits.shape == (3,)
    assert torch.all((emb1 >= 0) & (emb1 <= 1))


def test_batched_towers_equal_two_separate_tower_calls() -> None:
    torch.manual_seed(0)
    net = SiameseNet(TINY)
    init_he(net, 3)
    left, right = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    emb1, emb2, logits = net(left, right)
    alone1, alone2 = net.embed(left), net.embed(right)
    torch.testing.assert_close(emb1, alone1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(emb2, alone2, rtol=1e-5, atol=1e-6)
    expected = net.out(torch.abs(alone1 - alone2)).squeeze(1)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)


def test_flatten_feeds_fc1_in_channel_height_width_order() -> None:
    net = SiameseNet(TINY)
    init_he(net, 1)
    images = torch.rand(2, 1, 32, 32)
    x = images
    for conv in (net.conv1, net.conv2, net.conv3):
        x = torch.nn.functional.max_pool2d(torch.relu(conv(x)), 2)
    x = torch.relu(net.conv4(x)).reshape(2, -1)  # NCHW reshape: C, H, W order
    torch.testing.assert_close(net.embed(images), torch.sigmoid(net.fc1(x)), rtol=1e-5, atol=1e-6)


def test_gradients_match_finite_differences_in_float64() -> None:
    net = SiameseNet(MICRO).double()
    init_he(net, 5)
    gen = torch.Generator().manual_seed(0)
    left = torch.rand(3, 1, 20, 20, generator=gen, dtype=torch.float64)
    right = torch.rand(3, 1, 20, 20, generator=gen, dtype=torch.float64)
    labels = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    names = [n for n, _ in net.named_parameters()]
    start = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())

    def loss_of(*params: torch.Tensor) -> torch.Tensor:
        logits = functional_call(net, dict(zip(names, params, strict=True)), (left, right))[2]
        return pair_loss(logits, labels)

    assert torch.autograd.gradcheck(loss_of, start, eps=1e-6, atol=1e-5)


def test_paper_init_draws_the_published_distributions_reproducibly() -> None:
    shape = Shape((32, 64, 64, 128), (10, 7, 4, 4), 256, 105)
    net, again, other = SiameseNet(shape), SiameseNet(shape), SiameseNet(shape)
    init_paper(net, 7)
    init_paper(again, 7)
    init_paper(other, 8)
    params = dict(net.named_parameters())
    assert params["conv2.weight"].mean().abs() < 1e-3
    assert params["conv2.weight"].std().item() == pytest.approx(1e-2, rel=0.02)
    assert params["fc1.weight"].std().item() == pytest.approx(2e-1, rel=0.02)
    assert params["fc1.bias"].mean().item() == pytest.approx(0.5, abs=3e-3)
    assert params["conv2.bias"].std().item() == pytest.approx(1e-2, rel=0.3)
    for (name, p), q, r in zip(
        net.named_parameters(), again.parameters(), other.parameters(), strict=True
    ):
        assert torch.equal(p, q), name
        assert not torch.equal(p, r), name


def test_prepare_images_pools_to_the_input_side_by_block_means() -> None:
    images = torch.rand(2, 105, 105)
    pooled = prepare_images(images, 35)
    assert pooled.shape == (2, 1, 35, 35)
    torch.testing.assert_close(pooled[0, 0, 4, 7], images[0, 12:15, 21:24].mean())
    assert prepare_images(images, 105).shape == (2, 1, 105, 105)


def test_rejects_shapes_the_network_cannot_have() -> None:
    with pytest.raises(InputError, match="conv4 kernel 10"):
        SiameseNet(Shape((4, 4, 4, 4), (10, 7, 4, 10), 8, 105))
    with pytest.raises(InputError, match=r"model\.input: 200"):
        SiameseNet(Shape((4, 4, 4, 4), (10, 7, 4, 4), 8, 200))
