"""The optimisers: per-layer settings, L2 on weights only, lr decay and the momentum ramp."""

from __future__ import annotations

import pytest
import torch
from oneshot_common.params import LayerOptim, LayersOptim, OptimizerSpec
from oneshot_torch.model import PRESETS, SiameseNet, init_he
from oneshot_torch.optim import Schedule, build_optimizer


def groups_by_name(optimizer: torch.optim.Optimizer) -> dict[str, dict[str, object]]:
    return {group["name"]: group for group in optimizer.param_groups}


def test_sgd_has_per_layer_settings_and_l2_on_weights_only() -> None:
    spec = OptimizerSpec(
        lr=0.01, l2=1e-3, layers=LayersOptim(fc1=LayerOptim(lr=0.1, l2=0.05, momentum=0.8))
    )
    optimizer = build_optimizer(SiameseNet(PRESETS["tiny"]), spec)
    groups = groups_by_name(optimizer)
    assert groups["conv2.weight"]["lr"] == 0.01 and groups["conv2.weight"]["weight_decay"] == 1e-3
    assert groups["conv2.bias"]["weight_decay"] == 0.0
    assert groups["fc1.weight"]["lr"] == 0.1 and groups["fc1.weight"]["weight_decay"] == 0.05
    assert groups["fc1.bias"]["lr"] == 0.1 and groups["fc1.bias"]["weight_decay"] == 0.0


def test_schedule_decays_lr_and_ramps_momentum_linearly() -> None:
    spec = OptimizerSpec(
        lr=0.1,
        momentum=0.9,
        momentum_start=0.5,
        momentum_epochs=4,
        lr_decay=0.01,
        layers=LayersOptim(out=LayerOptim(momentum=0.7)),
    )
    optimizer = build_optimizer(SiameseNet(PRESETS["tiny"]), spec)
    schedule = Schedule(optimizer, spec)
    expected_momentum = {0: 0.5, 1: 0.6, 2: 0.7, 4: 0.9, 9: 0.9}
    for epoch, momentum in expected_momentum.items():
        schedule.apply(epoch)
        groups = groups_by_name(optimizer)
        assert groups["conv1.weight"]["lr"] == pytest.approx(0.1 * 0.99**epoch)
        assert groups["conv1.weight"]["momentum"] == pytest.approx(momentum)
    schedule.apply(2)
    assert groups_by_name(optimizer)["out.weight"]["momentum"] == pytest.approx(0.6)


def test_sgd_step_is_momentum_sgd_with_weight_decay() -> None:
    net = SiameseNet(PRESETS["tiny"])
    init_he(net, 1)
    spec = OptimizerSpec(lr=0.1, momentum_start=0.5, l2=0.01)
    optimizer = build_optimizer(net, spec)
    weight = net.conv1.weight
    before = weight.detach().clone()
    grad = torch.full_like(weight, 0.2)
    for _ in range(2):
        weight.grad = grad.clone()
        optimizer.step()
    # v1 = g1; w1 = w0 - lr v1; v2 = 0.5 v1 + g2; w2 = w1 - lr v2 (g includes l2 * w).
    g1 = grad + 0.01 * before
    w1 = before - 0.1 * g1
    w2 = w1 - 0.1 * (0.5 * g1 + grad + 0.01 * w1)
    torch.testing.assert_close(weight.detach(), w2)


def test_adam_uses_betas_and_eps() -> None:
    spec = OptimizerSpec(name="adam", lr=1e-3, betas=(0.8, 0.99), eps=1e-7)
    optimizer = build_optimizer(SiameseNet(PRESETS["tiny"]), spec)
    assert isinstance(optimizer, torch.optim.Adam)
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.8, 0.99) and group["eps"] == 1e-7
    Schedule(optimizer, spec).apply(3)
    assert group["lr"] == pytest.approx(1e-3 * 0.99**3)
