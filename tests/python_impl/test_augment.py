"""Affine distortions (docs/augment.md): determinism, the draw order, identity, known moves,
the border rule, agreement with a scalar per-pixel reading of the spec, and the `augment` task."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from oneshot_common.augment import (
    COMPONENTS,
    DRAWS_PER_IMAGE,
    IDENTITY,
    Distortions,
    apply_params,
    draw_params,
    inverse_matrices,
)
from oneshot_common.data import decode_png, unpack_bits
from oneshot_common.params import AugmentSpec
from oneshot_common.rng import Rng
from oneshot_common.sampling import read_pairs
from oneshot_torch.augment import distort_batch
from safetensors.numpy import load_file

from .conftest import run_cli

SPEC = AugmentSpec()  # the paper's ranges, probability 0.5


def one(**values: float) -> Distortions:
    """Distortions of one image with the given components applied (others identity)."""
    row = [values.get(name, IDENTITY[k]) for k, name in enumerate(COMPONENTS)]
    applied = [name in values for name in COMPONENTS]
    return Distortions(np.array([applied]), np.array([row], dtype=np.float64))


def dot(y: int, x: int) -> np.ndarray:
    image = np.zeros((1, 105, 105), dtype=np.uint8)
    image[0, y, x] = 1
    return image


def ink_at(image: np.ndarray) -> list[tuple[int, int]]:
    return [(int(y), int(x)) for y, x in np.argwhere(image[0])]


def reference_pixel(image: np.ndarray, values: list[float], y: int, x: int) -> int:
    """docs/augment.md read literally, one output pixel, scalar float64 arithmetic."""
    deg, rho_x, rho_y, s_x, s_y, t_x, t_y = values
    theta = deg * (math.pi / 180.0)
    c, s = math.cos(theta), math.sin(theta)
    a, b = (c - s * rho_y) * s_x, (c * rho_x - s) * s_y
    cc, d = (s + c * rho_y) * s_x, (s * rho_x + c) * s_y
    det = a * d - b * cc
    qx, qy = (x - 52.0) - t_x, (y - 52.0) - t_y
    px = ((d / det) * qx + (-b / det) * qy) + 52.0
    py = ((-cc / det) * qx + (a / det) * qy) + 52.0
    i, j = math.floor(px + 0.5), math.floor(py + 0.5)
    return int(image[j, i]) if 0 <= i <= 104 and 0 <= j <= 104 else 0


def test_same_seed_same_parameters_and_pixels_other_seed_differs() -> None:
    images = (np.random.default_rng(0).random((6, 105, 105)) < 0.3).astype(np.uint8)
    first = distort_batch(images, Rng(5, "augment"), SPEC)
    again = distort_batch(images, Rng(5, "augment"), SPEC)
    other = distort_batch(images, Rng(6, "augment"), SPEC)
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_draw_order_is_apply_then_value_for_each_component_of_each_image() -> None:
    rng = Rng(11, "augment")
    drawn = draw_params(Rng(11, "augment"), SPEC, 3)
    for i in range(3):
        for k, (lo, hi) in enumerate(
            [(-10, 10), (-0.3, 0.3), (-0.3, 0.3), (0.8, 1.2), (0.8, 1.2), (-2, 2), (-2, 2)]
        ):
            u_apply, u_value = rng.uniform(), rng.uniform()
            assert drawn.applied[i, k] == (u_apply < 0.5)
            expected = lo + (hi - lo) * u_value if u_apply < 0.5 else IDENTITY[k]
            assert drawn.values[i, k] == expected


def test_no_component_applied_is_the_identity_and_still_uses_fourteen_draws() -> None:
    images = (np.random.default_rng(1).random((4, 105, 105)) < 0.5).astype(np.uint8)
    rng, twin = Rng(3, "augment"), Rng(3, "augment")
    out = distort_batch(images, rng, AugmentSpec(probability=0.0))
    assert np.array_equal(out, images)
    for _ in range(4 * DRAWS_PER_IMAGE):
        twin.next_u64()
    assert rng.next_u64() == twin.next_u64()


def test_rotation_by_90_degrees_turns_right_of_centre_into_below_centre() -> None:
    # y points down, so a positive angle turns clockwise on screen: (+8, 0) -> (0, +8).
    out = apply_params(dot(52, 60), one(rotation_deg=90.0))
    assert ink_at(out) == [(60, 52)]
    assert ink_at(apply_params(dot(52, 52), one(rotation_deg=7.0))) == [(52, 52)]


def test_translation_moves_ink_by_whole_pixels_and_scale_stretches_it() -> None:
    assert ink_at(apply_params(dot(30, 40), one(translate_x=2.0, translate_y=-1.0))) == [(29, 42)]
    # Scale 2 in x: source offset +3 is the nearest source of output offsets +5 and +6.
    assert ink_at(apply_params(dot(52, 55), one(scale_x=2.0))) == [(52, 57), (52, 58)]
    # Shear x: x' = x + rho_x * y, so a point 10 rows below the centre moves 3 columns right.
    assert ink_at(apply_params(dot(62, 52), one(shear_x=0.3))) == [(62, 55)]


def test_outside_the_source_is_background() -> None:
    full = np.ones((1, 105, 105), dtype=np.uint8)
    out = apply_params(full, one(translate_x=2.0))
    assert not out[0, :, :2].any() and out[0, :, 2:].all()
    shrunk = apply_params(full, one(scale_x=0.8, scale_y=0.8))
    assert shrunk[0, 52, 52] == 1 and shrunk[0, 0, 0] == 0 and shrunk[0, 104, 104] == 0


def test_vectorised_resampling_matches_the_spec_pixel_by_pixel() -> None:
    images = (np.random.default_rng(2).random((3, 105, 105)) < 0.4).astype(np.uint8)
    drawn = draw_params(Rng(9, "augment"), AugmentSpec(probability=1.0), 3)
    out = apply_params(images, drawn)
    for n in range(3):
        values = drawn.values[n].tolist()
        expected = [
            [reference_pixel(images[n], values, y, x) for x in range(105)] for y in range(105)
        ]
        assert np.array_equal(out[n], np.array(expected, dtype=np.uint8))


def test_parameters_stay_in_range_and_each_component_applies_half_the_time() -> None:
    drawn = draw_params(Rng(1, "augment"), SPEC, 4000)
    fractions = drawn.applied.mean(axis=0)
    assert np.all(np.abs(fractions - 0.5) < 0.03), fractions  # 4000 draws: sd 0.008
    bounds = [(-10, 10), (-0.3, 0.3), (-0.3, 0.3), (0.8, 1.2), (0.8, 1.2), (-2, 2), (-2, 2)]
    for k, (lo, hi) in enumerate(bounds):
        used = drawn.values[drawn.applied[:, k], k]
        assert used.min() >= lo and used.max() < hi and used.max() - used.min() > 0.9 * (hi - lo)
        assert np.all(drawn.values[~drawn.applied[:, k], k] == IDENTITY[k])


def test_inverse_matrices_invert_the_forward_transform() -> None:
    drawn = draw_params(Rng(4, "augment"), AugmentSpec(probability=1.0), 5)
    for values, (ia, ib, ic, id_, _, _) in zip(
        drawn.values, inverse_matrices(drawn.values), strict=True
    ):
        theta = math.radians(values[0])
        rotation = np.array(
            [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
        )
        forward = rotation @ np.array([[1, values[1]], [values[2], 1]]) @ np.diag(values[3:5])
        assert np.allclose(np.array([[ia, ib], [ic, id_]]) @ forward, np.eye(2), atol=1e-12)


def test_torch_batches_get_the_same_pixels_as_numpy() -> None:
    images = (np.random.default_rng(3).random((4, 105, 105)) < 0.3).astype(np.uint8)
    expected = distort_batch(images, Rng(2, "augment"), SPEC)
    tensor = torch.from_numpy(images).to(torch.float32).unsqueeze(1)
    out = distort_batch(tensor, Rng(2, "augment"), SPEC)
    assert out.shape == (4, 1, 105, 105) and out.dtype == torch.float32
    assert np.array_equal(out.squeeze(1).numpy().astype(np.uint8), expected)


def test_augment_task_writes_parameters_that_reproduce_its_images(
    tiny_dataset: Any, job_writer: Callable[..., Path]
) -> None:
    root, _ = tiny_dataset
    pairs = root.parent / "pairs.tsv"
    pairs.write_text(
        "left\tright\tlabel\nAlpha/character01/00.png\tAlpha/character01/01.png\t1\n"
        "Beta/character02/02.png\tGamma/character01/00.png\t0\n"
    )
    job = job_writer(
        root,
        "augment",
        {},
        inputs={"pairs": str(pairs), "weights": None},
        augment={"probability": 0.9},
    )
    done = run_cli(job)
    assert done.returncode == 0, done.stderr
    out = job.parent
    result = json.loads((out / "result.json").read_text())
    assert result["metrics"]["images"] == 4
    lines = (out / "augment.tsv").read_text().split("\n")
    assert lines[0] == "index\tside\t" + "\t".join(COMPONENTS) and lines[-1] == ""
    rows = [line.split("\t") for line in lines[1:-1]]
    assert [(r[0], r[1]) for r in rows] == [
        ("0", "left"),
        ("0", "right"),
        ("1", "left"),
        ("1", "right"),
    ]
    tensors = load_file(str(out / "images.safetensors"))
    assert tensors["left"].shape == (2, 1379) and tensors["right"].dtype == np.uint8
    for n, cells in enumerate(rows):
        applied = [c != "-" for c in cells[2:]]
        values = [float.fromhex(c) if c != "-" else IDENTITY[k] for k, c in enumerate(cells[2:])]
        pair = read_pairs(pairs, root)[n // 2]
        source = decode_png(str(root / pair[n % 2])).astype(np.uint8)[None]
        again = apply_params(source, Distortions(np.array([applied]), np.array([values])))
        side = "left" if n % 2 == 0 else "right"
        assert np.array_equal(unpack_bits(tensors[side][n // 2]), again[0])


def test_first_parameters_of_seed_1_are_pinned_for_the_rust_side() -> None:
    # The example line of docs/augment.md; the Rust implementation pins the same values.
    drawn = draw_params(Rng(1, "augment"), SPEC, 1)
    cells = [v.hex() if a else "-" for a, v in zip(drawn.applied[0], drawn.values[0], strict=True)]
    assert cells == ["-0x1.25cd216564378p+0", "-0x1.2621eb585bbe1p-2", "-", "-", "-", "-", "-"]


def test_augment_task_rejects_a_missing_or_empty_pair_list(
    tiny_dataset: Any, job_writer: Callable[..., Path]
) -> None:
    root, _ = tiny_dataset
    empty = root.parent / "empty.tsv"
    empty.write_text("left\tright\tlabel\n")
    for pairs, message in ((None, "inputs.pairs: null"), (str(empty), "no pairs")):
        job = job_writer(root, "augment", {}, inputs={"pairs": pairs, "weights": None})
        done = run_cli(job)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        assert message in done.stderr
