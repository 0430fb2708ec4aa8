"""Decoding Omniglot images into bit-packed arrays (docs/sampling.md, "Images").

A valid image is a 105 x 105, 1-bit grayscale PNG (ink 0, background 1). `decode_png` returns it
as a boolean array with True = ink; `pack_bits` / `unpack_bits` convert to and from the
1,379-byte, most-significant-bit-first format both implementations share. `load_images` decodes
a list of data-set-relative paths into an [M, 1379] uint8 array; `load_pairs` and
`load_dataset` build on it, decoding every distinct file once.

Speed: decoding is single-threaded on purpose. Each file is read in one call and handed to
Pillow's PNG reader directly (no plugin search); a 105 x 105 image is so small that Python's
per-file overhead dominates, and a thread pool was slower (GIL contention) on the 2-core
benchmark machine: see impls/python/README.md for the figures. Decoded images are packed in
chunks so that memory stays near 1,379 bytes per image.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from PIL import PngImagePlugin

from oneshot_common.errors import InputError
from oneshot_common.sampling import Dataset, Pair

IMAGE_SIZE = 105
PIXELS = IMAGE_SIZE * IMAGE_SIZE
PACKED_BYTES = (PIXELS + 7) // 8  # 1,379
CHUNK = 512  # images decoded between two packings / progress reports

Packed = npt.NDArray[np.uint8]
Progress = Callable[[int, int], None]  # (done, total)


def _describe_bad_image(path: str, exc: Exception) -> InputError:
    reason = str(exc) or type(exc).__name__
    return InputError(f"{path}: corrupt or truncated PNG ({reason}), expected a 105x105 1-bit PNG")


def decode_png(path: str) -> npt.NDArray[np.bool_]:
    """Decode one image; returns a [105, 105] boolean array, True = ink (PNG value 0)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the image ({exc.strerror})") from None
    try:
        image = PngImagePlugin.PngImageFile(io.BytesIO(data))
    except Exception as exc:  # any failure of Pillow's parser means a bad file
        raise _describe_bad_image(path, exc) from None
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        width, height = image.size
        raise InputError(f"{path}: image is {width}x{height}, expected 105x105 pixels")
    if image.mode != "1":
        raise InputError(f"{path}: image mode is {image.mode!r}, expected '1' (1-bit grayscale)")
    try:
        pixels = np.asarray(image)
    except Exception as exc:  # truncated or corrupt pixel data
        raise _describe_bad_image(path, exc) from None
    return ~pixels


def pack_bits(images: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> Packed:
    """[..., 105, 105] ink images (nonzero = ink) -> [..., 1379] uint8, MSB first."""
    lead = images.shape[:-2]
    if images.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected [..., 105, 105] images, got shape {images.shape}")
    flat = images.reshape(*lead, PIXELS).astype(bool, copy=False)
    return np.packbits(flat, axis=-1)


def unpack_bits(packed: npt.NDArray[np.uint8]) -> Packed:
    """[..., 1379] uint8 -> [..., 105, 105] uint8 with 1 = ink, 0 = background."""
    if packed.shape[-1:] != (PACKED_BYTES,):
        raise ValueError(f"expected [..., 1379] packed images, got shape {packed.shape}")
    bits = np.unpackbits(packed, axis=-1, count=PIXELS)
    return bits.reshape(*packed.shape[:-1], IMAGE_SIZE, IMAGE_SIZE)


def load_images(root: str, paths: Sequence[str], progress: Progress | None = None) -> Packed:
    """Decode data-set-relative `paths` under `root` into an [M, 1379] uint8 array, in order."""
    total = len(paths)
    out = np.empty((total, PACKED_BYTES), dtype=np.uint8)
    chunk = np.empty((CHUNK, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    # Local names: this loop is the hot path of the `load` task.
    parse, wrap, asarray, join = PngImagePlugin.PngImageFile, io.BytesIO, np.asarray, os.path.join
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        for k in range(start, stop):
            path = join(root, paths[k])
            try:
                with open(path, "rb") as handle:
                    image = parse(wrap(handle.read()))
                if image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "1":
                    chunk[k - start] = asarray(image)
                    continue
            except Exception:  # decode_png below reports the exact problem
                pass
            chunk[k - start] = ~decode_png(path)  # raises InputError naming the file
        count = stop - start
        out[start:stop] = np.packbits(~chunk[:count].reshape(count, PIXELS), axis=1)
        if progress is not None:
            progress(stop, total)
    return out


def distinct_paths(pairs: Sequence[Pair]) -> list[str]:
    """The distinct image paths of `pairs` in order of first appearance."""
    seen: dict[str, None] = {}
    for left, right, _ in pairs:
        seen[left] = None
        seen[right] = None
    return list(seen)


def load_pairs(
    root: str, pairs: Sequence[Pair], progress: Progress | None = None
) -> tuple[Packed, Packed, Packed]:
    """Decode the images of `pairs`, each distinct file once.

    Returns left and right [N, 1379] uint8 packed images and labels [N] uint8.
    """
    unique = distinct_paths(pairs)
    index = {path: k for k, path in enumerate(unique)}
    images = load_images(root, unique, progress)
    left = images[np.fromiter((index[p[0]] for p in pairs), dtype=np.intp, count=len(pairs))]
    right = images[np.fromiter((index[p[1]] for p in pairs), dtype=np.intp, count=len(pairs))]
    labels = np.fromiter((p[2] for p in pairs), dtype=np.uint8, count=len(pairs))
    return left, right, labels


def load_dataset(dataset: Dataset, progress: Progress | None = None) -> Packed:
    """Decode every image of a scanned data set, in data-set order -> [M, 1379] uint8."""
    return load_images(dataset.root, dataset.image_paths(), progress)
