"""PNG decoding, bit packing and image loading in oneshot_common.data (docs/sampling.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from oneshot_common.data import (
    PACKED_BYTES,
    decode_png,
    load_dataset,
    load_images,
    load_pairs,
    pack_bits,
    unpack_bits,
)
from oneshot_common.errors import InputError
from oneshot_common.sampling import scan_dataset
from PIL import Image

from .conftest import glyph, write_png


def test_decodes_ink_as_true(tmp_path: Path) -> None:
    ink = glyph(1)
    write_png(tmp_path / "a.png", ink)
    decoded = decode_png(str(tmp_path / "a.png"))
    assert decoded.shape == (105, 105)
    assert np.array_equal(decoded, ink)


def test_corrupt_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(os.urandom(600))
    with pytest.raises(
        InputError, match=r"noise\.png: corrupt or truncated PNG .*expected a 105x105 1-bit PNG"
    ):
        decode_png(str(path))


def test_truncated_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    write_png(path, glyph(2))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png: corrupt or truncated PNG"):
        decode_png(str(path))
    with pytest.raises(InputError, match=r"cut\.png: corrupt or truncated PNG"):
        load_images(str(tmp_path), ["cut.png"])


def test_wrong_size_is_an_error_saying_expected_and_found(tmp_path: Path) -> None:
    Image.new("1", (104, 105), 1).save(tmp_path / "small.png")
    with pytest.raises(InputError, match=r"small\.png: image is 104x105, expected 105x105 pixels"):
        decode_png(str(tmp_path / "small.png"))
    with pytest.raises(InputError, match=r"small\.png: image is 104x105"):
        load_images(str(tmp_path), ["small.png"])


@pytest.mark.parametrize("mode", ["L", "RGB", "P"])
def test_wrong_mode_is_an_error_saying_expected_and_found(tmp_path: Path, mode: str) -> None:
    Image.new(mode, (105, 105)).save(tmp_path / "gray.png")
    with pytest.raises(InputError, match=rf"gray\.png: image mode is '{mode}', expected '1'"):
        load_images(str(tmp_path), ["gray.png"])


def test_not_a_png_is_rejected(tmp_path: Path) -> None:
    Image.new("1", (105, 105), 1).save(tmp_path / "x.png", format="BMP")
    with pytest.raises(InputError, match=r"x\.png: corrupt or truncated PNG"):
        decode_png(str(tmp_path / "x.png"))


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"gone\.png: cannot read the image"):
        load_images(str(tmp_path), ["gone.png"])


def test_pack_layout_is_row_major_msb_first_with_zero_padding() -> None:
    image = np.zeros((105, 105), dtype=bool)
    image[0, 0] = True  # pixel 0 -> byte 0, bit 7
    image[0, 9] = True  # pixel 9 -> byte 1, bit 6
    image[104, 104] = True  # pixel 11024 -> byte 1378, bit 7
    packed = pack_bits(image)
    assert packed.shape == (PACKED_BYTES,) == (1379,)
    assert packed[0] == 0x80 and packed[1] == 0x40 and packed[1378] == 0x80
    assert int(packed.sum()) == 0x80 + 0x40 + 0x80


def test_pack_unpack_round_trip() -> None:
    images = np.stack([glyph(k) for k in range(7)]).reshape(7, 105, 105)
    packed = pack_bits(images)
    assert packed.shape == (7, 1379) and packed.dtype == np.uint8
    assert np.all(packed[:, -1] & 0x7F == 0)
    unpacked = unpack_bits(packed)
    assert unpacked.dtype == np.uint8 and np.array_equal(unpacked, images.astype(np.uint8))


def test_load_pairs_decodes_each_distinct_file_once(
    tiny_dataset: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, written = tiny_dataset
    pairs = [
        ("Alpha/character01/00.png", "Alpha/character01/02.png", 1),
        ("Alpha/character01/00.png", "Beta/character02/01.png", 0),
        ("Gamma/character03/01.png", "Alpha/character01/02.png", 0),
    ]
    left, right, labels = load_pairs(str(root), pairs)
    assert left.shape == right.shape == (3, 1379) and labels.tolist() == [1, 0, 0]
    for k, (a, b, _) in enumerate(pairs):
        assert np.array_equal(unpack_bits(left[k]), written[a].astype(np.uint8))
        assert np.array_equal(unpack_bits(right[k]), written[b].astype(np.uint8))


def test_load_dataset_keeps_dataset_order_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oneshot_common import data

    from .conftest import make_dataset

    monkeypatch.setattr(data, "CHUNK", 4)
    root = tmp_path / "several"
    written = make_dataset(root, {"A": {"c1": 3, "c2": 4}, "B": {"c1": 3}})
    dataset = scan_dataset(root)
    seen: list[tuple[int, int]] = []
    images = load_dataset(dataset, lambda done, total: seen.append((done, total)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    expected = pack_bits(np.stack([written[p] for p in dataset.image_paths()]))
    assert np.array_equal(images, expected)


def test_real_omniglot_matches_a_plain_pillow_decode(omniglot_small1: Path) -> None:
    dataset = scan_dataset(omniglot_small1)
    paths = dataset.image_paths()[::7]
    images = load_images(str(omniglot_small1), paths)
    for k, rel in enumerate(paths):
        with Image.open(omniglot_small1 / rel) as im:
            assert im.mode == "1" and im.size == (105, 105)
            ink = np.asarray(im.convert("L")) == 0
        assert np.array_equal(unpack_bits(images[k]), ink.astype(np.uint8))


def _chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of every chunk of a PNG."""
    found, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        found.append((pos, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return found


def test_omniglot_files_take_the_zlib_path_and_decode_as_pillow_does(
    omniglot_small1: Path,
) -> None:
    from oneshot_common.data import _plain_rows

    dataset = scan_dataset(omniglot_small1)
    paths = dataset.image_paths()[::9]  # 303 files of every alphabet
    for path in paths:
        assert _plain_rows((omniglot_small1 / path).read_bytes()) is not None, path
    expected = pack_bits(np.stack([decode_png(str(omniglot_small1 / p)) for p in paths]))
    assert np.array_equal(load_images(str(omniglot_small1), paths), expected)


def test_files_off_the_zlib_path_are_decoded_by_pillow(
    omniglot_small1: Path, tmp_path: Path
) -> None:
    from oneshot_common.data import _plain_rows

    filtered = tmp_path / "filtered.png"  # Pillow picks a filter per row: not the plain layout
    write_png(filtered, glyph(3))
    assert _plain_rows(filtered.read_bytes()) is None
    assert np.array_equal(load_images(str(tmp_path), ["filtered.png"])[0], pack_bits(glyph(3)))

    source = omniglot_small1 / scan_dataset(omniglot_small1).image_paths()[0]
    data = bytearray(source.read_bytes())
    (idat,) = [pos for pos, kind in _chunks(bytes(data)) if kind == b"IDAT"]
    bad_crc = bytearray(data)
    length = int.from_bytes(data[idat : idat + 4], "big")
    bad_crc[idat + 8 + length] ^= 0xFF
    (tmp_path / "crc.png").write_bytes(bad_crc)
    assert _plain_rows(bytes(bad_crc)) is None
    try:  # whatever Pillow makes of it, load_images makes the same
        expected = pack_bits(decode_png(str(tmp_path / "crc.png")))
    except InputError:
        with pytest.raises(InputError, match=r"crc\.png: corrupt or truncated PNG"):
            load_images(str(tmp_path), ["crc.png"])
    else:
        assert np.array_equal(load_images(str(tmp_path), ["crc.png"])[0], expected)

    import zlib

    broken = bytearray(data)  # a damaged zlib stream under a right CRC: Pillow names the file
    broken[idat + 8 : idat + 8 + length] = bytes(length)
    crc = zlib.crc32(bytes(broken[idat + 4 : idat + 8 + length]))
    broken[idat + 8 + length : idat + 12 + length] = crc.to_bytes(4, "big")
    (tmp_path / "zlib.png").write_bytes(broken)
    assert _plain_rows(bytes(broken)) is None
    with pytest.raises(InputError, match=r"zlib\.png: corrupt or truncated PNG"):
        load_images(str(tmp_path), ["zlib.png"])
