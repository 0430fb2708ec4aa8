"""Stroke-drawn glyphs for the synthetic data set: alphabet styles, characters, drawers, pixels.

Three levels of randomness, each from its own `random.Random` seeded with a string (Python's
string seeding and its `random()` stream are stable across versions):

- an **alphabet style** (`AlphabetStyle`): stroke count range, 2-3 preferred stroke directions,
  curvature, stroke length and how often a stroke starts on an earlier one. Characters of one
  alphabet share it, so same-alphabet negatives look alike, as in Omniglot;
- a **character** (`make_character`): 2-4 strokes, each a chain of 1-3 cubic Bezier pieces
  through random control points in the unit square, then centred and scaled to a common size;
- a **drawer** (`draw`): jitter of every control point (about 2 px) and of every stroke (1.5 px),
  a stroke width of 2.5-4 px, a rotation within +-7 degrees, scale 0.9-1.1, shear +-0.1 and a
  shift of +-4 px. These are small next to the differences between characters, which is what
  makes the set learnable for a one-shot model.

Pixels come from `rasterise`: a pixel is ink when its centre lies within half the stroke width
of a stroke segment. It uses only float64 `+ - * /`, `sqrt` and comparisons in numpy (no library
line drawing whose rounding could change between versions, no BLAS); with `math.sin`/`math.cos`
in the geometry, the same arguments give the same pixels wherever libm rounds those alike.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SIZE_PX = 105
Point = tuple[float, float]
Piece = tuple[Point, Point, Point, Point]  # one cubic Bezier: start, two controls, end
Stroke = list[Piece]
BoolImage = npt.NDArray[np.bool_]

_MAX_SEGMENT_PX = 2.5  # curves are cut into chords at most this long before rasterising
_MAX_RADIUS_PX = 2.0  # half of the widest stroke (4 px)
_WINDOW_PX = math.ceil(_MAX_SEGMENT_PX + 2 * _MAX_RADIUS_PX) + 2


def rng_for(*parts: object) -> random.Random:
    """A generator seeded from a string naming its use (stable across Python versions)."""
    return random.Random("oneshot-synthetic/" + "/".join(str(p) for p in parts))


def _uniform(rng: random.Random, low: float, high: float) -> float:
    return low + (high - low) * rng.random()


def _below(rng: random.Random, n: int) -> int:
    return min(int(rng.random() * n), n - 1)


def _normalish(rng: random.Random) -> float:
    """Approximately standard normal (sum of four uniforms), from `random()` only."""
    return (rng.random() + rng.random() + rng.random() + rng.random() - 2.0) * math.sqrt(3.0)


@dataclass(frozen=True)
class AlphabetStyle:
    min_strokes: int
    max_strokes: int
    directions_rad: tuple[float, ...]
    direction_spread_rad: float
    curvature: float  # control-point offset across the chord, as a fraction of its length
    length_min: float  # stroke piece length range, unit square
    length_max: float
    max_pieces: int
    connect_prob: float  # chance a stroke starts on a point of an earlier stroke
    loop_prob: float  # chance a stroke is a closed loop (an ellipse of four pieces)


def make_style(rng: random.Random) -> AlphabetStyle:
    min_strokes = 2 + _below(rng, 2)
    base = _uniform(rng, 0.0, math.pi)
    step = math.pi / (2 + _below(rng, 3))  # 90, 60 or 45 degrees between preferred directions
    count = 2 + _below(rng, 2)
    return AlphabetStyle(
        min_strokes=min_strokes,
        max_strokes=min_strokes + _below(rng, 5 - min_strokes),
        directions_rad=tuple(base + i * step for i in range(count)),
        direction_spread_rad=_uniform(rng, 0.08, 0.3),
        curvature=_uniform(rng, 0.0, 0.6) ** 1.5,
        length_min=_uniform(rng, 0.25, 0.4),
        length_max=_uniform(rng, 0.5, 0.8),
        max_pieces=1 + _below(rng, 3),
        connect_prob=_uniform(rng, 0.2, 0.8),
        loop_prob=max(0.0, _uniform(rng, -0.2, 0.4)),
    )


def _piece(rng: random.Random, style: AlphabetStyle, start: Point) -> Piece:
    """A Bezier piece from `start` in a preferred direction, kept inside the unit square."""
    for _ in range(8):
        angle = style.directions_rad[_below(rng, len(style.directions_rad))]
        angle += style.direction_spread_rad * _normalish(rng)
        if rng.random() < 0.5:
            angle += math.pi
        length = _uniform(rng, style.length_min, style.length_max)
        end = (start[0] + length * math.cos(angle), start[1] + length * math.sin(angle))
        if 0.0 <= end[0] <= 1.0 and 0.0 <= end[1] <= 1.0:
            break
    end = (min(max(end[0], 0.0), 1.0), min(max(end[1], 0.0), 1.0))
    dx, dy = end[0] - start[0], end[1] - start[1]
    bends = [style.curvature * _normalish(rng) for _ in range(2)]
    c1 = (start[0] + dx / 3 - dy * bends[0], start[1] + dy / 3 + dx * bends[0])
    c2 = (start[0] + 2 * dx / 3 - dy * bends[1], start[1] + 2 * dy / 3 + dx * bends[1])
    return (start, c1, c2, end)


def _loop(rng: random.Random) -> Stroke:
    """A closed, roughly elliptic stroke: four cubic pieces (quarter arcs)."""
    cx, cy = _uniform(rng, 0.3, 0.7), _uniform(rng, 0.3, 0.7)
    rx, ry = _uniform(rng, 0.1, 0.25), _uniform(rng, 0.1, 0.25)
    turn = _uniform(rng, 0.0, math.pi)
    cos, sin = math.cos(turn), math.sin(turn)
    kappa = 0.5523  # control distance of a quarter circle as a cubic Bezier

    def at(u: float, v: float) -> Point:
        x, y = u * rx, v * ry
        return (cx + cos * x - sin * y, cy + sin * x + cos * y)

    quarters = ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 0))
    stroke: Stroke = []
    for (u0, v0), (u1, v1) in itertools.pairwise(quarters):
        stroke.append(
            (
                at(u0, v0),
                at(u0 - kappa * v0, v0 + kappa * u0),
                at(u1 + kappa * v1, v1 - kappa * u1),
                at(u1, v1),
            )
        )
    return stroke


def make_character(rng: random.Random, style: AlphabetStyle) -> list[Stroke]:
    """2-4 strokes of the alphabet's style, centred and scaled to fill about 65% of the box."""
    strokes: list[Stroke] = []
    count = style.min_strokes + _below(rng, style.max_strokes - style.min_strokes + 1)
    for _ in range(count):
        if rng.random() < style.loop_prob:
            strokes.append(_loop(rng))
            continue
        if strokes and rng.random() < style.connect_prob:
            stroke = strokes[_below(rng, len(strokes))]
            piece = stroke[_below(rng, len(stroke))]
            start = piece[0] if rng.random() < 0.5 else piece[3]
        else:
            start = (_uniform(rng, 0.1, 0.9), _uniform(rng, 0.1, 0.9))
        stroke = []
        for _ in range(1 + _below(rng, style.max_pieces)):
            stroke.append(_piece(rng, style, start))
            start = stroke[-1][3]
        strokes.append(stroke)
    return _normalise(strokes)


def _normalise(strokes: list[Stroke]) -> list[Stroke]:
    xs = [p[0] for s in strokes for piece in s for p in piece]
    ys = [p[1] for s in strokes for piece in s for p in piece]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    extent = max(max(xs) - min(xs), max(ys) - min(ys), 0.2)
    scale = 0.65 / extent

    def move(p: Point) -> Point:
        return (0.5 + (p[0] - cx) * scale, 0.5 + (p[1] - cy) * scale)

    return [[(move(a), move(b), move(c), move(d)) for a, b, c, d in stroke] for stroke in strokes]


def draw(rng: random.Random, strokes: list[Stroke]) -> BoolImage:
    """One drawer's rendering of a character: jitter, width and a small affine change."""
    angle = math.radians(7.0) * _uniform(rng, -1.0, 1.0)
    scale = _uniform(rng, 0.9, 1.1)
    aspect = _uniform(rng, 0.95, 1.05)
    shear = _uniform(rng, -0.1, 0.1)
    shift = (_uniform(rng, -4.0, 4.0), _uniform(rng, -4.0, 4.0))
    radius_px = _uniform(rng, 1.25, _MAX_RADIUS_PX)
    cos, sin = math.cos(angle), math.sin(angle)
    sx, sy = scale * aspect * SIZE_PX, scale / aspect * SIZE_PX
    half = SIZE_PX / 2

    def to_px(p: Point, off: Point) -> Point:
        u = (p[0] - 0.5 + off[0] + 0.02 * _normalish(rng)) * sx
        v = (p[1] - 0.5 + off[1] + 0.02 * _normalish(rng)) * sy
        u += shear * v
        return (half + shift[0] + cos * u - sin * v, half + shift[1] + sin * u + cos * v)

    chains: list[list[Piece]] = []
    for stroke in strokes:
        off = (0.015 * _normalish(rng), 0.015 * _normalish(rng))
        chain: list[Piece] = []
        joint: Point | None = None
        for a, b, c, d in stroke:
            start = joint if joint is not None else to_px(a, off)
            piece = (start, to_px(b, off), to_px(c, off), to_px(d, off))
            joint = piece[3]
            chain.append(piece)
        chains.append(chain)
    return rasterise([piece for chain in chains for piece in chain], radius_px)


def _segments(pieces: list[Piece]) -> npt.NDArray[np.float64]:
    """Chords (x0, y0, x1, y1) of every piece, each at most `_MAX_SEGMENT_PX` long."""
    parts = []
    for p0, p1, p2, p3 in pieces:
        ctrl = np.array([p0, p1, p2, p3], dtype=np.float64)
        steps = np.diff(ctrl, axis=0)
        polygon_px = float(np.sum(np.sqrt(steps[:, 0] ** 2 + steps[:, 1] ** 2)))
        n = max(1, math.ceil(polygon_px / _MAX_SEGMENT_PX))
        t = np.arange(n + 1, dtype=np.float64) / n
        s = 1.0 - t
        weights = (s * s * s, 3.0 * s * s * t, 3.0 * s * t * t, t * t * t)
        # Elementwise sums, not a matrix product: BLAS may fuse or reorder and change the bits.
        pts = sum(
            (w[:, None] * ctrl[i][None, :] for i, w in enumerate(weights)),
            start=np.zeros((n + 1, 2), dtype=np.float64),
        )
        parts.append(np.concatenate([pts[:-1], pts[1:]], axis=1))
    return np.concatenate(parts, axis=0)


def rasterise(pieces: list[Piece], radius_px: float) -> BoolImage:
    """Ink every pixel whose centre is within `radius_px` of a chord of the pieces."""
    seg = _segments(pieces)
    x0, y0, x1, y1 = (seg[:, i, None, None] for i in range(4))
    ox = np.floor(np.minimum(x0, x1) - radius_px)
    oy = np.floor(np.minimum(y0, y1) - radius_px)
    offs = np.arange(_WINDOW_PX, dtype=np.float64)
    px = ox + offs[None, None, :]  # (segments, 1, window)
    py = oy + offs[None, :, None]  # (segments, window, 1)
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    rx, ry = px + 0.5 - x0, py + 0.5 - y0
    t = np.where(length2 > 0.0, (rx * dx + ry * dy) / np.where(length2 > 0.0, length2, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    ex, ey = rx - t * dx, ry - t * dy
    ink = ex * ex + ey * ey <= radius_px * radius_px
    px_b, py_b = np.broadcast_to(px, ink.shape), np.broadcast_to(py, ink.shape)
    keep = ink & (px_b >= 0) & (px_b < SIZE_PX) & (py_b >= 0) & (py_b < SIZE_PX)
    image = np.zeros((SIZE_PX, SIZE_PX), dtype=np.bool_)
    image[py_b[keep].astype(np.intp), px_b[keep].astype(np.intp)] = True
    return image
