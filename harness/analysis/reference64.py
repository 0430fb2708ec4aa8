"""The siamese network in float64 with numpy: the referee of the `forward` and `gradients` checks.

Written from docs/protocol.md ("Network tasks") alone, importing no implementation: one tower is
conv -> ReLU -> max-pool 2x2 (floor) three times, conv4 -> ReLU, flatten in C, H, W order,
fc1 -> sigmoid; the head is `out(|e1 - e2|)`; the loss is the mean binary cross-entropy on the
logits. Convolutions are im2col + one matmul, in chunks of images so that the column matrix
stays near `COLUMNS_BYTES`. Pixels are decoded from the pair file's PNGs (ink 1.0, background
0.0) and reduced to the model's input side by adaptive average pooling, as the protocol says.

The same code runs in float32 (`dtype=np.float32`): a third, independent float32 computation
whose distance from float64 is what float32 rounding alone costs on these weights and pixels
(the checks call it the float32 rounding floor).

`forward_reference(job, pairs)` computes the embeddings and logits of the first `pairs` pairs of
a `forward` job; `gradients_reference(job)` the loss and the gradients of a `step` job's step 0
(its first `batch` pairs, indices modulo the file's length), both from the job's own
`inputs.weights` and `inputs.pairs`. Either raises `ReferenceUnavailable` with a reason when it
cannot (no shared weights, a batch too costly in float64, an unreadable image).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "out")
COLUMNS_BYTES = 256 * 1024**2
# Forward pairs recomputed in float64, and the most FLOPs of one float64 training step the
# `gradients` check spends (the `cpu` preset at batch 32 is 91 GFLOP; `paper` at 32 is 349).
FORWARD_PAIRS = 8
MAX_STEP_GFLOP = 120.0


class ReferenceUnavailable(Exception):
    """The float64 reference cannot be computed for this job; the message says why."""


@dataclass(frozen=True)
class Model:
    filters: tuple[int, int, int, int]
    kernels: tuple[int, int, int, int]
    embedding: int
    input: int

    @staticmethod
    def of(spec: Mapping[str, Any]) -> Model:
        f, k = spec["filters"], spec["kernels"]
        return Model(
            (int(f[0]), int(f[1]), int(f[2]), int(f[3])),
            (int(k[0]), int(k[1]), int(k[2]), int(k[3])),
            int(spec["embedding"]),
            int(spec["input"]),
        )

    def sides(self) -> list[int]:
        """The side after each convolution: s1 = S - K1 + 1, then floor(s / 2) - K + 1."""
        sides, s = [], self.input
        for i, k in enumerate(self.kernels):
            s = (s if i == 0 else s // 2) - k + 1
            sides.append(s)
        return sides

    def gflop_per_training_pair(self) -> float:
        sides, channels, flop = self.sides(), (1, *self.filters[:3]), 0.0
        for k, c, f, s in zip(self.kernels, channels, self.filters, sides, strict=True):
            flop += 2.0 * k * k * c * f * s * s
        flop += 2.0 * self.filters[3] * sides[3] ** 2 * self.embedding
        return 3 * (2 * flop + 2 * self.embedding) / 1e9


# ---------------------------------------------------------------------------------------------
# Pixels


def pooling_matrix(side: int, full: int = 105) -> Array:
    """P [side, full] with (P @ img @ P.T) the adaptive average pooling of img to side x side:
    output row i is the mean of rows floor(i*full/side) .. ceil((i+1)*full/side) - 1."""
    p = np.zeros((side, full), dtype=np.float64)
    for i in range(side):
        lo, hi = (i * full) // side, -((-(i + 1) * full) // side)
        p[i, lo:hi] = 1.0 / (hi - lo)
    return p


def read_image(path: Path) -> Array:
    """A 105x105 1-bit Omniglot PNG as float64, ink (PNG value 0) 1.0, background 0.0."""
    from PIL import Image

    with Image.open(path) as img:
        if img.size != (105, 105) or img.mode != "1":
            raise ReferenceUnavailable(
                f"{path}: {img.size[0]}x{img.size[1]} mode {img.mode}; expected 105x105 mode 1"
            )
        bits = np.asarray(img, dtype=bool)
    return (~bits).astype(np.float64)


def network_input(images: Array, side: int) -> Array:
    """[N, 105, 105] -> [N, 1, side, side], adaptive average pooling when side < 105."""
    if side == 105:
        return images[:, None]
    p = pooling_matrix(side)
    pooled: Array = np.einsum("ia,nab,jb->nij", p, images, p)
    return pooled[:, None]


def read_pairs(path: Path) -> list[tuple[str, str, int]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "left\tright\tlabel":
        raise ReferenceUnavailable(f"{path}: not a pair file (header {lines[:1]})")
    rows = [line.split("\t") for line in lines[1:] if line]
    return [(r[0], r[1], int(r[2])) for r in rows]


def load_batch(root: Path, pairs: list[tuple[str, str, int]], side: int) -> tuple[Array, ...]:
    """Left and right network inputs [N, 1, side, side] and labels [N] of some pairs, float64."""
    cache: dict[str, Array] = {}

    def image(rel: str) -> Array:
        if rel not in cache:
            cache[rel] = read_image(root / rel)
        return cache[rel]

    left = network_input(np.stack([image(p[0]) for p in pairs]), side)
    right = network_input(np.stack([image(p[1]) for p in pairs]), side)
    return left, right, np.array([p[2] for p in pairs], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Layers


def _chunk(n: int, row_bytes: int) -> int:
    return max(1, min(n, COLUMNS_BYTES // max(row_bytes, 1)))


def _columns(x: Array, k: int) -> Array:
    """im2col: [n, C, H, W] -> [n * Ho * Wo, C * K * K], rows in (n, y, x) order, columns in
    (c, ky, kx) order: the order of a PyTorch O, I, H, W weight flattened per output channel."""
    n, c, _, _ = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # n C Ho Wo K K
    ho, wo = win.shape[2], win.shape[3]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)


def conv(x: Array, w: Array, b: Array) -> Array:
    """Valid convolution, stride 1 (PyTorch's cross-correlation): [N, C, H, W] -> [N, F, Ho, Wo]."""
    n, c, h, width = x.shape
    f, _, k, _ = w.shape
    ho, wo = h - k + 1, width - k + 1
    wm = w.reshape(f, c * k * k).T
    out = np.empty((n, f, ho, wo), dtype=x.dtype)
    step = _chunk(n, ho * wo * c * k * k * x.itemsize)
    for i in range(0, n, step):
        cols = _columns(x[i : i + step], k)
        y = cols @ wm + b
        out[i : i + step] = y.reshape(-1, ho, wo, f).transpose(0, 3, 1, 2)
    return out


def conv_backward(x: Array, w: Array, dy: Array, need_dx: bool) -> tuple[Array, Array, Array]:
    """Gradients of conv(x, w, b) given dL/dy: (dx or an empty array, dw, db)."""
    n, c = x.shape[0], x.shape[1]
    f, _, k, _ = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    wm = w.reshape(f, c * k * k)
    dw = np.zeros((f, c * k * k), dtype=x.dtype)
    dx = np.zeros_like(x) if need_dx else np.empty(0, dtype=x.dtype)
    step = _chunk(n, ho * wo * c * k * k * x.itemsize)
    for i in range(0, n, step):
        rows = dy[i : i + step].transpose(0, 2, 3, 1).reshape(-1, f)  # (n, y, x) x F
        dw += rows.T @ _columns(x[i : i + step], k)
        if need_dx:
            dcols = (rows @ wm).reshape(-1, ho, wo, c, k, k)
            part = dx[i : i + step]
            for ky in range(k):
                for kx in range(k):
                    part[:, :, ky : ky + ho, kx : kx + wo] += dcols[:, :, :, :, ky, kx].transpose(
                        0, 3, 1, 2
                    )
    return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))


def maxpool(x: Array) -> tuple[Array, Array]:
    """Max-pool 2x2 stride 2, floor: (pooled [N, C, H//2, W//2], the argmax inside each window)."""
    n, c, h, w = x.shape
    hp, wp = h // 2, w // 2
    win = x[:, :, : 2 * hp, : 2 * wp].reshape(n, c, hp, 2, wp, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, hp, wp, 4)
    arg = np.argmax(win, axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def maxpool_backward(shape: tuple[int, ...], arg: Array, dy: Array) -> Array:
    n, c = shape[0], shape[1]
    hp, wp = arg.shape[2], arg.shape[3]
    win = np.zeros((n, c, hp, wp, 4), dtype=dy.dtype)
    np.put_along_axis(win, arg[..., None], dy[..., None], axis=-1)
    dx = np.zeros(shape, dtype=dy.dtype)
    dx[:, :, : 2 * hp, : 2 * wp] = (
        win.reshape(n, c, hp, wp, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * hp, 2 * wp)
    )
    return dx


def sigmoid(x: Array) -> Array:
    e = np.exp(-np.abs(x))
    out: Array = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# The network


def _weights(weights: Mapping[str, Array], dtype: type[np.floating[Any]]) -> dict[str, Array]:
    out = {}
    for layer in LAYERS:
        for kind in ("weight", "bias"):
            name = f"{layer}.{kind}"
            if name not in weights:
                raise ReferenceUnavailable(f"the weights have no tensor {name}")
            out[name] = np.asarray(weights[name]).astype(dtype)
    return out


def tower(w: Mapping[str, Array], x: Array, keep: list[Any] | None = None) -> Array:
    """One tower, [N, 1, S, S] -> embeddings [N, E]; `keep` collects what backward needs."""
    a = x
    for i, layer in enumerate(LAYERS[:4]):
        z = conv(a, w[f"{layer}.weight"], w[f"{layer}.bias"])
        r = np.maximum(z, 0)
        if keep is not None:
            keep.append((a, z > 0))
        if i < 3:
            a, arg = maxpool(r)
            if keep is not None:
                keep.append((r.shape, arg))
        else:
            a = r
    flat = a.reshape(a.shape[0], -1)
    e = sigmoid(flat @ w["fc1.weight"].T + w["fc1.bias"])
    if keep is not None:
        keep.append((a.shape, flat, e))
    return e


def forward(
    weights: Mapping[str, Array],
    left: Array,
    right: Array,
    dtype: type[np.floating[Any]] = np.float64,
) -> dict[str, Array]:
    """emb1, emb2 [N, E] and logits [N] of pairs (left, right), as the `forward` task writes."""
    w = _weights(weights, dtype)
    e = tower(w, np.concatenate([left, right]).astype(dtype))
    n = left.shape[0]
    e1, e2 = e[:n], e[n:]
    logits = np.abs(e1 - e2) @ w["out.weight"][0] + w["out.bias"][0]
    return {"emb1": e1, "emb2": e2, "logits": logits}


def loss_and_gradients(
    weights: Mapping[str, Array],
    left: Array,
    right: Array,
    labels: Array,
    dtype: type[np.floating[Any]] = np.float64,
) -> tuple[float, dict[str, Array]]:
    """The mean BCE of a batch and its gradients, named `grad.<tensor>` as `grads.safetensors`."""
    w = _weights(weights, dtype)
    keep: list[Any] = []
    n = left.shape[0]
    e = tower(w, np.concatenate([left, right]).astype(dtype), keep)
    e1, e2 = e[:n], e[n:]
    d = np.abs(e1 - e2)
    z = d @ w["out.weight"][0] + w["out.bias"][0]
    y = labels.astype(dtype)
    loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
    g: dict[str, Array] = {}
    dz = (sigmoid(z) - y) / n
    g["out.weight"] = (dz @ d)[None, :]
    g["out.bias"] = np.array([dz.sum()], dtype=dtype)
    de1 = dz[:, None] * w["out.weight"][0][None, :] * np.sign(e1 - e2)
    a4_shape, flat, _ = keep.pop()
    dh = np.concatenate([de1, -de1]) * e * (1 - e)
    g["fc1.weight"] = dh.T @ flat
    g["fc1.bias"] = dh.sum(axis=0)
    da = (dh @ w["fc1.weight"]).reshape(a4_shape)
    for i in reversed(range(4)):
        layer = LAYERS[i]
        if i < 3:
            r_shape, arg = keep.pop()
            da = maxpool_backward(r_shape, arg, da)
        a_in, positive = keep.pop()
        dzl = da * positive
        da, g[f"{layer}.weight"], g[f"{layer}.bias"] = conv_backward(
            a_in, w[f"{layer}.weight"], dzl, need_dx=i > 0
        )
    return loss, {f"grad.{name}": g[name] for name in w}


# ---------------------------------------------------------------------------------------------
# From a job folder


def _job(job_dir: Path) -> dict[str, Any]:
    path = job_dir / "job.json"
    try:
        job: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReferenceUnavailable(f"{path} unreadable: {e}") from e
    return job


def _inputs(job: Mapping[str, Any]) -> tuple[Model, dict[str, Array], Path, Path]:
    from safetensors.numpy import load_file

    inputs, model = job.get("inputs") or {}, job.get("model")
    if model is None or not inputs.get("weights") or not inputs.get("pairs"):
        raise ReferenceUnavailable("the job has no shared weights or pair file")
    weights = dict(load_file(str(inputs["weights"])))
    return Model.of(model), weights, Path(inputs["pairs"]), Path(job["dataset"]["root"])


@dataclass(frozen=True)
class Reference:
    """Float64 outputs of a subset, and the same network's float32 outputs (the rounding floor)."""

    f64: dict[str, Array]
    f32: dict[str, Array]
    subset: str  # e.g. "the first 8 of 32 pairs"


def forward_reference(job_dir: Path, pairs: int = FORWARD_PAIRS) -> Reference:
    job = _job(job_dir)
    model, weights, pair_file, root = _inputs(job)
    rows = read_pairs(pair_file)
    subset = rows[:pairs]
    left, right, _ = load_batch(root, subset, model.input)
    return Reference(
        forward(weights, left, right),
        forward(weights, left, right, np.float32),
        f"the first {len(subset)} of {len(rows)} pairs",
    )


def gradients_reference(job_dir: Path, max_gflop: float | None = None) -> Reference:
    max_gflop = MAX_STEP_GFLOP if max_gflop is None else max_gflop
    job = _job(job_dir)
    model, weights, pair_file, root = _inputs(job)
    batch = int(job.get("params", {}).get("batch", 32))
    cost = model.gflop_per_training_pair() * batch
    if cost > max_gflop:
        raise ReferenceUnavailable(
            f"a float64 step of {batch} pairs of this model is {cost:.0f} GFLOP, more than the "
            f"{max_gflop:.0f} the check spends"
        )
    rows = read_pairs(pair_file)
    if not rows:
        raise ReferenceUnavailable(f"{pair_file}: no pairs")
    subset = [rows[i % len(rows)] for i in range(batch)]
    left, right, labels = load_batch(root, subset, model.input)
    loss64, g64 = loss_and_gradients(weights, left, right, labels)
    _, g32 = loss_and_gradients(weights, left, right, labels, np.float32)
    if not math.isfinite(loss64):
        raise ReferenceUnavailable(f"the float64 loss is {loss64}")
    return Reference(g64, g32, f"step 0's batch of {batch} pairs (loss {loss64:.6g})")
