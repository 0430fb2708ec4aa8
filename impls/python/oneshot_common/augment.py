"""Koch et al.'s affine distortions, reproducible pixel for pixel (docs/augment.md).

Each image gets its own transform T = A(theta, rho_x, rho_y, s_x, s_y, t_x, t_y); each of the
seven components is applied with probability `probability` (else it is the identity). For an
image, `draw_params` takes 14 numbers from the generator (`Rng(seed, "augment")`): for each
component in the order of `COMPONENTS`, `u_apply` then `u_value`. `apply_params` resamples
bilevel images by the inverse map with nearest-neighbour rounding `floor(p + 0.5)` in float64
and background 0 outside the source. Every float64 operation and its order is given in
docs/augment.md, so that the Rust implementation produces the same pixels.

`distort_batch(images, rng, spec)` does both for a numpy batch [B, 105, 105] (torch tensors:
oneshot_torch.augment); `run_augment` is the `augment` task: it distorts the images of
`inputs.pairs` (pair by pair, left then right) and writes `augment.tsv` and
`images.safetensors`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oneshot_common.errors import InputError, TaskError
from oneshot_common.events import Events
from oneshot_common.job import Job
from oneshot_common.params import AugmentSpec
from oneshot_common.rng import Rng
from oneshot_common.tasks import IMAGES_FILE, Outcome

COMPONENTS = (
    "rotation_deg",
    "shear_x",
    "shear_y",
    "scale_x",
    "scale_y",
    "translate_x",
    "translate_y",
)
IDENTITY = (0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
DRAWS_PER_IMAGE = 2 * len(COMPONENTS)
DEG_TO_RAD = math.pi / 180.0  # 0.017453292519943295
PARAMS_FILE = "augment.tsv"
PARAMS_HEADER = "index\tside\t" + "\t".join(COMPONENTS)
NOT_APPLIED = "-"

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Distortions:
    """Drawn parameters of B images: `applied` [B, 7] and `values` [B, 7] (identity if not)."""

    applied: npt.NDArray[np.bool_]
    values: Floats

    def __len__(self) -> int:
        return len(self.values)


def ranges(spec: AugmentSpec) -> list[tuple[float, float]]:
    """(lo, hi) of each component, in `COMPONENTS` order."""
    r, s, t = spec.rotation_deg, spec.shear, spec.translate_px
    lo, hi = spec.scale
    return [(-r, r), (-s, s), (-s, s), (lo, hi), (lo, hi), (-t, t), (-t, t)]


def draw_params(rng: Rng, spec: AugmentSpec, count: int) -> Distortions:
    """Parameters of `count` images: per image, per component, `u_apply` then `u_value`."""
    bounds = ranges(spec)
    probability = spec.probability
    uniform = rng.uniform
    applied = np.zeros((count, len(COMPONENTS)), dtype=bool)
    values = np.tile(np.array(IDENTITY), (count, 1))
    for i in range(count):
        for k, (lo, hi) in enumerate(bounds):
            u_apply = uniform()
            u_value = uniform()  # drawn whether or not the component is applied
            if u_apply < probability:
                applied[i, k] = True
                values[i, k] = lo + (hi - lo) * u_value
    return Distortions(applied, values)


def inverse_matrices(values: Floats) -> Floats:
    """[B, 6] inverse maps (ia, ib, ic, id, tx, ty), computed exactly as docs/augment.md says."""
    out = np.empty((len(values), 6), dtype=np.float64)
    for i, (deg, rho_x, rho_y, s_x, s_y, t_x, t_y) in enumerate(values.tolist()):
        theta = deg * DEG_TO_RAD
        c, s = math.cos(theta), math.sin(theta)
        a = (c - s * rho_y) * s_x
        b = (c * rho_x - s) * s_y
        cc = (s + c * rho_y) * s_x
        d = (s * rho_x + c) * s_y
        det = a * d - b * cc
        out[i] = (d / det, -b / det, -cc / det, a / det, t_x, t_y)
    return out


def apply_params(images: npt.NDArray[Any], distortions: Distortions) -> npt.NDArray[Any]:
    """Resample images [B, S, S] (any dtype; 0 = background) by their drawn transforms."""
    count, side = images.shape[0], images.shape[-1]
    if images.shape != (count, side, side) or len(distortions) != count:
        raise ValueError(f"expected [{len(distortions)}, S, S] images, got {images.shape}")
    if count == 0:
        return images.copy()
    centre = (side - 1) / 2.0  # 52.0 for 105-pixel images
    inv = inverse_matrices(distortions.values)
    ia, ib, ic, id_, tx, ty = (inv[:, k, None, None] for k in range(6))
    grid = np.arange(side, dtype=np.float64) - centre
    qx = grid[None, None, :] - tx  # [B, 1, S]: (X - centre) - t_x
    qy = grid[None, :, None] - ty  # [B, S, 1]: (Y - centre) - t_y
    src_x = np.floor((ia * qx + ib * qy) + centre + 0.5)
    src_y = np.floor((ic * qx + id_ * qy) + centre + 0.5)
    inside = (src_x >= 0) & (src_x <= side - 1) & (src_y >= 0) & (src_y <= side - 1)
    flat = np.where(inside, src_y * side + src_x, 0).astype(np.intp).reshape(count, -1)
    picked = np.take_along_axis(images.reshape(count, -1), flat, axis=1).reshape(images.shape)
    return np.where(inside, picked, np.zeros((), dtype=images.dtype))


def distort_batch(images: npt.NDArray[Any], rng: Rng, spec: AugmentSpec) -> npt.NDArray[Any]:
    """Draw and apply distortions to a batch [B, S, S], image by image in batch order.

    The pixel-exact specification is for the 105 x 105 bilevel images; other sides use the
    centre (S - 1) / 2 and pixels of S.
    """
    return apply_params(images, draw_params(rng, spec, len(images)))


def format_params(distortions: Distortions, index: int, side: str, row: int) -> str:
    """One augment.tsv line: pair index, side, each value as `float.hex()` or `-`."""
    cells = [
        float(v).hex() if applied else NOT_APPLIED
        for applied, v in zip(distortions.applied[row], distortions.values[row], strict=True)
    ]
    return f"{index}\t{side}\t" + "\t".join(cells)


def run_augment(job: Job, events: Events) -> Outcome:
    """`augment`: distort every image of `inputs.pairs`, pair by pair, left then right."""
    from safetensors.numpy import save_file

    from oneshot_common.data import load_pairs, pack_bits, unpack_bits
    from oneshot_common.sampling import read_pairs

    task_start = time.perf_counter()
    spec = job.augment if isinstance(job.augment, AugmentSpec) else AugmentSpec()
    with events.phase("load"):
        if job.inputs.pairs is None:
            raise InputError("inputs.pairs: null, expected a pair file for task augment")
        pairs = read_pairs(job.inputs.pairs, job.dataset.root)
        if not pairs:
            raise InputError(f"{job.inputs.pairs}: no pairs, expected at least one")
        left, right, _labels = load_pairs(job.dataset.root, pairs)
    count = len(left)
    with events.phase("augment"):
        began = time.perf_counter()
        # Rows 2p and 2p+1 are pair p's left and right images: the draw order of the task.
        stacked = np.stack((unpack_bits(left), unpack_bits(right)), axis=1).reshape(-1, 105, 105)
        distortions = draw_params(Rng(job.seed, "augment"), spec, 2 * count)
        distorted = pack_bits(apply_params(stacked, distortions)).reshape(count, 2, -1)
        augment_s = time.perf_counter() - began
    with events.phase("write"):
        lines = [PARAMS_HEADER]
        for p in range(count):
            lines.append(format_params(distortions, p, "left", 2 * p))
            lines.append(format_params(distortions, p, "right", 2 * p + 1))
        tsv = os.path.join(job.out_dir, PARAMS_FILE)
        images = os.path.join(job.out_dir, IMAGES_FILE)
        try:
            with open(tsv, "w", encoding="utf-8", newline="\n") as handle:
                handle.write("\n".join(lines) + "\n")
            tensors = {"left": distorted[:, 0].copy(), "right": distorted[:, 1].copy()}
            save_file(tensors, images)
        except OSError as exc:
            raise TaskError(f"{job.out_dir}: cannot write the outputs ({exc.strerror})") from None
    return Outcome(
        metrics={
            "images": 2 * count,
            "images_per_s": 2 * count / augment_s if augment_s > 0 else 0.0,
            "applied_fraction": float(distortions.applied.mean()) if count else 0.0,
            "task_s": time.perf_counter() - task_start,
        },
        outputs={"params": PARAMS_FILE, "images": IMAGES_FILE},
    )
