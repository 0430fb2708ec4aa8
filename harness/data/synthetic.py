"""The synthetic Omniglot-layout data set: the embedded default of the quickstart and the tests.

    python -m harness data synthetic --out DIR [--alphabets N --characters N --drawers N --seed S]

writes `DIR/Synthetic_01/character01/0001_01.png` ...: alphabets `Synthetic_NN`, characters
`characterNN`, images `NNNN_DD.png` (NNNN the global character number from 0001, DD the drawer
from 01), each a 105x105 1-bit grayscale PNG with ink 0 and background 1, like Omniglot. The
glyphs come from `harness.data.glyphs`. Same arguments give byte-identical files: the pixels
depend only on Python's `random()` stream and float64 arithmetic, and the PNGs are encoded here
(filter 0, zlib level 9) rather than by Pillow, whose bundled zlib changes between releases.

The set is written into a temporary sibling folder and renamed into place, so DIR is either
absent, a complete set or untouched. DIR may be missing, empty, or an earlier synthetic set
(recognised by its `.synthetic.json`; one with the same arguments is reused, another replaced);
anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.glyphs import SIZE_PX, BoolImage, draw, make_character, make_style, rng_for
from harness.errors import HarnessError

GENERATOR_VERSION = 1
MARKER = ".synthetic.json"
MAX_COUNT = 1000  # alphabets, characters per alphabet, drawers per character: each at most
MAX_IMAGES = 1_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class SyntheticSummary:
    """What `write_synthetic` produced (or found already in place)."""

    out: Path
    alphabets: int
    characters: int  # per alphabet
    drawers: int  # per character
    seed: int
    images: int
    pixels_sha256: str  # SHA-256 of every image's bit-packed pixels, in file-name order
    reused: bool  # True when DIR already held this exact set

    def __str__(self) -> str:
        verb = "kept existing" if self.reused else "wrote"
        return (
            f"{verb} {self.out}: {self.alphabets} alphabets x {self.characters} characters x "
            f"{self.drawers} drawers = {self.images} images (seed {self.seed}, "
            f"pixels sha256 {self.pixels_sha256[:16]})"
        )


def write_synthetic(
    out: Path, *, alphabets: int = 5, characters: int = 10, drawers: int = 20, seed: int = 0
) -> SyntheticSummary:
    """Write the deterministic synthetic set to `out` and return what was written.

    Raises `HarnessError` for out-of-range arguments, an `out` that is a file or a non-empty
    folder that is not an earlier synthetic set, and folders that cannot be written.
    """
    _check_count("alphabets", alphabets)
    _check_count("characters", characters)
    _check_count("drawers", drawers)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise HarnessError(f"synthetic seed: expected an integer in [0, 2^64), got {seed!r}")
    images = alphabets * characters * drawers
    if images > MAX_IMAGES:
        raise HarnessError(
            f"synthetic set: {alphabets} x {characters} x {drawers} = {images} images; "
            f"expected at most {MAX_IMAGES}"
        )
    out = Path(out)
    params: dict[str, Any] = {
        "format_version": 1,
        "generator_version": GENERATOR_VERSION,
        "alphabets": alphabets,
        "characters": characters,
        "drawers": drawers,
        "seed": seed,
        "images": images,
    }
    previous = _existing_marker(out)
    if previous is not None and _same_set(out, previous, params):
        return _summary(out, previous, reused=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_parent = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        tmp = tmp_parent / "set"  # made by mkdir, so it gets the usual permissions
        tmp.mkdir()
    except OSError as exc:
        raise HarnessError(f"cannot create a folder beside {out}: {exc.strerror}") from None
    try:
        digest = _write_images(tmp, alphabets, characters, drawers, seed)
        marker = {**params, "pixels_sha256": digest}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _move_into_place(tmp, out)
    except OSError as exc:
        raise HarnessError(f"cannot write the synthetic set to {out}: {exc}") from None
    finally:
        shutil.rmtree(tmp_parent, ignore_errors=True)
    return _summary(out, marker, reused=False)


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_COUNT:
        raise HarnessError(
            f"synthetic {name}: expected an integer from 2 to {MAX_COUNT}, got {value!r}"
        )


def _existing_marker(out: Path) -> dict[str, Any] | None:
    """The marker of an earlier synthetic set at `out`, None when `out` is absent or empty."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise HarnessError(f"{out} is a file; expected a folder for the synthetic set")
    marker_path = out / MARKER
    if marker_path.is_file():
        try:
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            marker = None
        if isinstance(marker, dict):
            return marker
    if any(out.iterdir()):
        raise HarnessError(
            f"{out} is not empty and is not a synthetic data set (no {MARKER}); "
            "choose an empty or new folder for --out"
        )
    return None


def _same_set(out: Path, marker: dict[str, Any], params: dict[str, Any]) -> bool:
    if any(marker.get(key) != value for key, value in params.items()):
        return False
    found = sum(
        1
        for _, dirnames, filenames in os.walk(out)
        for name in filenames
        if name.endswith(".png") and not name.startswith(".")
    )
    return found == params["images"] and isinstance(marker.get("pixels_sha256"), str)


def _summary(out: Path, marker: dict[str, Any], *, reused: bool) -> SyntheticSummary:
    return SyntheticSummary(
        out=out,
        alphabets=marker["alphabets"],
        characters=marker["characters"],
        drawers=marker["drawers"],
        seed=marker["seed"],
        images=marker["images"],
        pixels_sha256=marker["pixels_sha256"],
        reused=reused,
    )


def _width(count: int, minimum: int) -> int:
    return max(minimum, len(str(count)))


def _write_images(root: Path, alphabets: int, characters: int, drawers: int, seed: int) -> str:
    """Write every image under `root`; return the SHA-256 of their packed pixels."""
    digest = hashlib.sha256()
    wa, wc, wd = _width(alphabets, 2), _width(characters, 2), _width(drawers, 2)
    wn = _width(alphabets * characters, 4)
    number = 0
    for a in range(alphabets):
        style = make_style(rng_for("style", seed, a))
        alphabet_dir = root / f"Synthetic_{a + 1:0{wa}d}"
        for c in range(characters):
            number += 1
            strokes = make_character(rng_for("character", seed, a, c), style)
            char_dir = alphabet_dir / f"character{c + 1:0{wc}d}"
            char_dir.mkdir(parents=True)
            for d in range(drawers):
                ink = draw(rng_for("drawer", seed, a, c, d), strokes)
                digest.update(np.packbits(ink).tobytes())
                (char_dir / f"{number:0{wn}d}_{d + 1:0{wd}d}.png").write_bytes(encode_png(ink))
    return digest.hexdigest()


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished set onto `out`, replacing an empty folder or an earlier set."""
    if not out.exists():
        tmp.rename(out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        tmp.rename(out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old = trash / "set"
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(trash, ignore_errors=True)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(ink: BoolImage) -> bytes:
    """A 1-bit grayscale PNG of a 105x105 ink mask: ink 0 (black), background 1 (white)."""
    if ink.shape != (SIZE_PX, SIZE_PX):
        raise ValueError(f"expected a {SIZE_PX}x{SIZE_PX} image, got {ink.shape}")
    rows = np.packbits(~ink, axis=1)  # most significant bit first; padding bits 0
    filtered = np.concatenate([np.zeros((SIZE_PX, 1), dtype=np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", SIZE_PX, SIZE_PX, 1, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )
