"""python-jax's network against python-torch's on the same weights: forward, one step's
gradients and updated weights (SGD and Adam), the input pooling, the layouts and the init.

Both frameworks run in this process (jax with its default threads: threads.py only matters in
the program). Tolerances are float32 rounding: 1e-5 relative (norm-wise, max|a-b| / max|a|,
as harness/analysis/checks.py measures) for outputs and gradients, a little more after an update.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import pytest
import torch
from oneshot_common.params import OptimizerSpec
from oneshot_common.shape import PRESETS, Shape, tensor_shapes
from oneshot_jax import model, optim
from oneshot_jax.network import Network, put
from oneshot_torch.model import SiameseNet, init_he, pair_loss, prepare_images
from oneshot_torch.optim import Schedule, build_optimizer
from oneshot_torch.weights import state_tensors

SHAPES = {"tiny": PRESETS["tiny"], "small": PRESETS["small"]}


def rel(a: Any, b: Any) -> float:
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a64 - b64)) / max(float(np.max(np.abs(a64))), 1e-30))


def torch_net(shape: Shape, seed: int = 3) -> SiameseNet:
    net = SiameseNet(shape)
    init_he(net, seed)
    return net


def same_weights(net: SiameseNet) -> dict[str, jax.Array]:
    tensors = {k: v.numpy().copy() for k, v in state_tensors(net).items()}
    params: dict[str, jax.Array] = put(model.to_internal(tensors))
    return params


def batch(shape: Shape, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    left = (rng.random((n, 105, 105)) < 0.15).astype(np.uint8)
    right = (rng.random((n, 105, 105)) < 0.15).astype(np.uint8)
    labels = (rng.random(n) < 0.5).astype(np.float32)
    return left, right, labels


def torch_input(pixels: np.ndarray, side: int) -> torch.Tensor:
    return prepare_images(torch.from_numpy(pixels).to(torch.float32), side)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_forward_matches_torch_on_the_same_weights(name: str) -> None:
    shape = SHAPES[name]
    net = torch_net(shape).eval()
    left, right, _ = batch(shape, 6)
    with torch.no_grad():
        e1, e2, logits = net(torch_input(left, shape.input), torch_input(right, shape.input))
    program = Network(shape).forward(same_weights(net), 6)
    x1 = put(model.prepare_images(left, shape.input))
    x2 = put(model.prepare_images(right, shape.input))
    j1, j2, jl = program(same_weights(net), x1, x2)
    assert rel(e1, j1) < 1e-5 and rel(e2, j2) < 1e-5
    assert rel(logits, jl) < 1e-5


# Adam moves every weight by about lr whatever its gradient, so on `small` (dead ReLU units,
# gradients at rounding level) a weight may move either way: Adam runs on `tiny` here and its
# formula is checked on identical gradients below.
@pytest.mark.slow  # compiling a training step takes seconds
@pytest.mark.parametrize(
    ("name", "optimizer"), [("tiny", "sgd"), ("small", "sgd"), ("tiny", "adam")]
)
def test_one_step_matches_torch_gradients_and_updated_weights(name: str, optimizer: str) -> None:
    shape = SHAPES[name]
    spec = OptimizerSpec(name=optimizer, lr=1e-3, momentum=0.5, l2=1e-3)
    net = torch_net(shape).train()
    start = same_weights(net)
    left, right, labels = batch(shape, 8, seed=1)
    opt = build_optimizer(net, spec)
    Schedule(opt, spec).apply(0)
    opt.zero_grad()
    x1, x2 = torch_input(left, shape.input), torch_input(right, shape.input)
    loss = pair_loss(net(x1, x2)[2], torch.from_numpy(labels))
    loss.backward()  # type: ignore[no-untyped-call]
    torch_grads = {k: p.grad.numpy().copy() for k, p in net.named_parameters()}  # type: ignore[union-attr]
    opt.step()
    torch_after = {k: v.numpy().copy() for k, v in state_tensors(net).items()}

    network = Network(shape, spec)
    jx1 = put(model.prepare_images(left, shape.input))
    jx2 = put(model.prepare_images(right, shape.input))
    jy = put(labels)
    grads = model.to_interchange(network.gradients(start, 8)(start, jx1, jx2, jy))
    state, hyper = put(optim.init_state(spec, start)), put(optim.hyper_at(spec, shape, 0))
    after, _, jloss = network.train_step(start, state, hyper, 8)(start, state, hyper, jx1, jx2, jy)
    assert float(jloss) == pytest.approx(loss.item(), rel=1e-5)
    for key, value in torch_grads.items():
        assert rel(value, grads[key]) < 1e-4, key
    moved = model.to_interchange(after)
    for key, value in torch_after.items():
        if optimizer == "sgd":
            assert rel(value, moved[key]) < 5e-5, key
        else:  # every weight's move agrees to 1% of a step of lr
            assert np.abs(value - moved[key]).max() <= 1e-2 * spec.lr, key


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_update_is_torchs_optimiser_on_identical_gradients(optimizer: str) -> None:
    shape = PRESETS["tiny"]
    spec = OptimizerSpec(name=optimizer, lr=1e-3, momentum=0.9, momentum_start=0.5, l2=2e-4)
    rng = np.random.default_rng(0)
    shapes = tensor_shapes(shape)
    start = {k: rng.normal(0, 0.1, dims).astype(np.float32) for k, dims in shapes.items()}
    steps = [
        {k: rng.normal(0, 1e-3, dims).astype(np.float32) for k, dims in shapes.items()}
        for _ in range(3)
    ]
    net = SiameseNet(shape)
    with torch.no_grad():
        for key, p in net.named_parameters():
            p.copy_(torch.from_numpy(start[key]))
    opt = build_optimizer(net, spec)
    Schedule(opt, spec).apply(2)  # epoch 2: decayed lr, ramped momentum
    for grads in steps:
        for key, p in net.named_parameters():
            p.grad = torch.empty_like(p)  # the parameter's strides, as autograd makes them
            p.grad.copy_(torch.from_numpy(grads[key]))
        opt.step()
    params = {k: jax.numpy.asarray(v) for k, v in start.items()}  # interchange layout is fine
    state, hyper = optim.init_state(spec, params), optim.hyper_at(spec, shape, 2)
    update = jax.jit(lambda p, g, s, h: optim.update(spec, p, g, s, h))
    for grads in steps:
        params, state = update(
            params, {k: jax.numpy.asarray(v) for k, v in grads.items()}, state, hyper
        )
    for key, p in net.named_parameters():
        np.testing.assert_allclose(np.asarray(params[key]), p.detach().numpy(), rtol=0, atol=1e-7)


@pytest.mark.slow
def test_a_non_finite_loss_leaves_the_weights_as_they_were() -> None:
    shape = PRESETS["tiny"]
    spec = OptimizerSpec()
    tensors = model.init_weights(shape, 1, "he")
    tensors["out.bias"] = np.array([np.inf], dtype=np.float32)  # logits inf: loss NaN
    params = put(model.to_internal(tensors))
    kept = model.to_interchange(params)
    left, right, labels = batch(shape, 4)
    network = Network(shape, spec)
    state, hyper = put(optim.init_state(spec, params)), put(optim.hyper_at(spec, shape, 0))
    x1, x2 = put(model.prepare_images(left, 32)), put(model.prepare_images(right, 32))
    after, _, loss = network.train_step(params, state, hyper, 4)(
        params, state, hyper, x1, x2, put(labels)
    )
    assert not np.isfinite(float(loss))
    for key, value in model.to_interchange(after).items():
        np.testing.assert_array_equal(value, kept[key])


@pytest.mark.parametrize("side", [20, 32, 52, 104, 105])
def test_input_pooling_is_torchs_adaptive_average_bit_for_bit(side: int) -> None:
    pixels = (np.random.default_rng(side).random((5, 105, 105)) < 0.3).astype(np.uint8)
    expected = torch_input(pixels, side).numpy()[:, 0]
    found = model.prepare_images(pixels, side)
    assert found.shape == (5, side, side, 1) and found.dtype == np.float32
    np.testing.assert_array_equal(found[..., 0], expected)


def test_layouts_round_trip_and_use_hwio_internally() -> None:
    tensors = model.init_weights(PRESETS["tiny"], 4, "paper")
    internal = model.to_internal(tensors)
    assert internal["conv2.weight"].shape == (3, 3, 4, 8)  # HWIO of [8, 4, 3, 3]
    assert internal["fc1.weight"].shape == (16, 32) and internal["out.weight"].shape == (32, 1)
    back = model.to_interchange(internal)
    assert list(back) == list(tensors)
    for key, value in tensors.items():
        np.testing.assert_array_equal(back[key], value)


def test_flatten_feeds_fc1_in_channel_height_width_order() -> None:
    # conv4's output has side 2 here: a wrong (H, W, C) flatten would change the embedding.
    shape = Shape((2, 3, 3, 4), (3, 2, 2, 1), 5, 20)
    net = torch_net(shape, 9).eval()
    pixels = (np.random.default_rng(2).random((3, 105, 105)) < 0.3).astype(np.uint8)
    with torch.no_grad():
        expected = net.embed(torch_input(pixels, 20)).numpy()
    found = Network(shape).embed(same_weights(net), 3)(
        same_weights(net), put(model.prepare_images(pixels, 20))
    )
    assert rel(expected, found) < 1e-5


@pytest.mark.parametrize("method", ["paper", "he"])
def test_init_draws_the_distributions_reproducibly(method: str) -> None:
    shape = Shape((32, 64, 64, 128), (10, 7, 4, 4), 256, 105)
    first = model.init_weights(shape, 7, method)
    assert {k: v.shape for k, v in first.items()} == tensor_shapes(shape)
    again, other = model.init_weights(shape, 7, method), model.init_weights(shape, 8, method)
    for key, value in first.items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, again[key])
    if method == "paper":
        assert first["conv2.weight"].std() == pytest.approx(1e-2, rel=0.02)
        assert first["fc1.weight"].std() == pytest.approx(2e-1, rel=0.02)
        assert first["fc1.bias"].mean() == pytest.approx(0.5, abs=3e-3)
    else:
        assert first["conv2.weight"].std() == pytest.approx((2 / (32 * 49)) ** 0.5, rel=0.02)
        assert not first["conv2.bias"].any()
    assert not np.array_equal(first["conv2.weight"], other["conv2.weight"])
