"""Decoding Omniglot images into bit-packed arrays (docs/sampling.md, "Images").

A valid image is a 105 x 105, 1-bit grayscale PNG (ink 0, background 1). `decode_png` returns it
as a boolean array with True = ink; `pack_bits` / `unpack_bits` convert to and from the
1,379-byte, most-significant-bit-first format both implementations share. `load_images` decodes
a list of data-set-relative paths into an [M, 1379] uint8 array; `load_pairs` and
`load_dataset` build on it, decoding every distinct file once.

Speed: decoding is single-threaded on purpose. Each file is read in one call. A file laid out
as every Omniglot file is (the 105 x 105 1-bit grayscale IHDR, no interlace, ancillary chunks,
one zlib stream of IDAT data, every row unfiltered, every CRC right) is decoded by `_plain_rows`
with `zlib` alone; any other file goes to Pillow's PNG reader (no plugin search), which also
names what is wrong with a bad one. A 105 x 105 image is so small that Python's per-file
overhead dominates: Pillow's per-file code cost about twice the zlib path's, and a thread pool
was slower (GIL contention) on the 2-core benchmark machine: see impls/python/README.md for the
figures. Decoded rows are unpacked and packed in chunks so that memory stays near 1,379 bytes
per image.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
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
ROW_BYTES = 1 + (IMAGE_SIZE + 7) // 8  # a PNG row: the filter byte, then 14 bytes of pixels
RAW_BYTES = IMAGE_SIZE * ROW_BYTES  # 1,575: a 105 x 105 1-bit image's decompressed IDAT data

_IHDR = b"IHDR" + struct.pack(">IIBBBBB", IMAGE_SIZE, IMAGE_SIZE, 1, 0, 0, 0, 0)
# Signature, then IHDR: 105 x 105, bit depth 1, grayscale, deflate, adaptive filters, no interlace.
_PLAIN_HEAD = (
    b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + _IHDR + struct.pack(">I", zlib.crc32(_IHDR))
)
_NO_FILTERS = bytes(IMAGE_SIZE)  # every row's filter byte 0 (None)

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


def _plain_rows(data: bytes) -> bytes | None:
    """The 1,575 decompressed row bytes of a plain Omniglot-layout PNG, or None for any other
    file (Pillow then decodes it or names what is wrong): the exact 105 x 105 1-bit grayscale
    IHDR, only ancillary chunks besides IDAT and IEND, consecutive IDAT chunks holding one
    complete zlib stream of exactly 1,575 bytes, every row unfiltered, every CRC right."""
    if not data.startswith(_PLAIN_HEAD):
        return None
    pos, size, parts, idat_done = len(_PLAIN_HEAD), len(data), [], False
    crc32, unpack_from = zlib.crc32, struct.unpack_from
    while True:
        if pos + 12 > size:
            return None
        (length,) = unpack_from(">I", data, pos)
        end = pos + 8 + length
        if end + 4 > size or unpack_from(">I", data, end)[0] != crc32(data[pos + 4 : end]):
            return None
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            if idat_done:
                return None
            parts.append(data[pos + 8 : end])
        elif kind == b"IEND":
            break
        elif parts:
            idat_done = True  # IDAT chunks must be consecutive
            if not kind[0] & 0x20:
                return None
        elif not kind[0] & 0x20:  # a critical chunk other than IDAT / IEND (PLTE, ...)
            return None
        pos = end + 4
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(b"".join(parts))
    except zlib.error:
        return None
    if not stream.eof or stream.unused_data or len(raw) != RAW_BYTES:
        return None
    if raw[::ROW_BYTES] != _NO_FILTERS:
        return None
    return raw


def load_images(root: str, paths: Sequence[str], progress: Progress | None = None) -> Packed:
    """Decode data-set-relative `paths` under `root` into an [M, 1379] uint8 array, in order."""
    total = len(paths)
    out = np.empty((total, PACKED_BYTES), dtype=np.uint8)
    # Each image as its PNG rows (filter byte 0, then 105 pixels MSB first, 1 = background).
    rows = np.zeros((CHUNK, IMAGE_SIZE, ROW_BYTES), dtype=np.uint8)
    flat = rows.reshape(CHUNK, RAW_BYTES)
    # Local names: this loop is the hot path of the `load` task.
    parse, wrap, asarray, join = PngImagePlugin.PngImageFile, io.BytesIO, np.asarray, os.path.join
    plain, frombuffer, packbits, uint8 = _plain_rows, np.frombuffer, np.packbits, np.uint8
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        for k in range(start, stop):
            path = join(root, paths[k])
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                data = b""  # decode_png below reports the exact problem
            raw = plain(data)
            if raw is not None:
                flat[k - start] = frombuffer(raw, dtype=uint8)
                continue
            try:
                image = parse(wrap(data))
                if image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "1":
                    rows[k - start, :, 1:] = packbits(asarray(image), axis=1)
                    continue
            except Exception:  # decode_png below reports the exact problem
                pass
            rows[k - start, :, 1:] = packbits(~decode_png(path), axis=1)  # or InputError
        count = stop - start
        bits = np.unpackbits(rows[:count, :, 1:], axis=2, count=IMAGE_SIZE)
        out[start:stop] = packbits(bits.reshape(count, PIXELS) ^ 1, axis=1)
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
