"""Data set scan, pair sampling and the pair file (docs/sampling.md) in oneshot_common.sampling."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from oneshot_common.errors import InputError
from oneshot_common.rng import Rng
from oneshot_common.sampling import (
    Dataset,
    Pair,
    format_pairs,
    read_pairs,
    sample_pairs,
    scan_dataset,
    write_pairs,
)

from .conftest import make_dataset


def reference_pairs(dataset: Dataset, n: int, same_alphabet: float, seed: int) -> list[Pair]:
    """docs/sampling.md transcribed literally (no speed tricks), to pin sample_pairs to it."""
    rng = Rng(seed, "pairs")
    chars = [(a, c) for a, size in enumerate(dataset.alphabet_size) for c in range(size)]
    by_alphabet = [
        [g for g, (a, _) in enumerate(chars) if a == k] for k in range(len(dataset.alphabets))
    ]
    pairs: list[Pair] = []
    for p in range(n):
        if p % 2 == 0:
            c = rng.below(len(chars))
            k = len(dataset.images[c])
            i = rng.below(k)
            j = rng.below(k - 1)
            if j >= i:
                j += 1
            pairs.append((dataset.images[c][i], dataset.images[c][j], 1))
        else:
            c1 = rng.below(len(chars))
            a1, l1 = chars[c1]
            if rng.uniform() < same_alphabet:
                l2 = rng.below(len(by_alphabet[a1]) - 1)
                if l2 >= l1:
                    l2 += 1
                c2 = by_alphabet[a1][l2]
            else:
                a2 = rng.below(len(by_alphabet) - 1)
                if a2 >= a1:
                    a2 += 1
                c2 = by_alphabet[a2][rng.below(len(by_alphabet[a2]))]
            i1 = rng.below(len(dataset.images[c1]))
            i2 = rng.below(len(dataset.images[c2]))
            pairs.append((dataset.images[c1][i1], dataset.images[c2][i2], 0))
    return pairs


def character_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


def alphabet_of(path: str) -> str:
    return path.split("/", 1)[0]


@pytest.mark.parametrize("seed", [0, 1, 42, 2**64 - 1])
@pytest.mark.parametrize("same_alphabet", [0.0, 0.3, 0.5, 1.0])
def test_sample_pairs_follows_the_spec(
    tiny_dataset: tuple[Path, object], seed: int, same_alphabet: float
) -> None:
    dataset = scan_dataset(tiny_dataset[0])
    got = sample_pairs(dataset, 301, same_alphabet, Rng(seed, "pairs"))
    assert got == reference_pairs(dataset, 301, same_alphabet, seed)


def test_pairs_alternate_positive_negative_with_the_right_content(
    tiny_dataset: tuple[Path, object],
) -> None:
    dataset = scan_dataset(tiny_dataset[0])
    pairs = sample_pairs(dataset, 1001, 0.5, Rng(3, "pairs"))
    assert [label for _, _, label in pairs] == [1 - p % 2 for p in range(1001)]
    for left, right, label in pairs:
        if label == 1:
            assert character_of(left) == character_of(right) and left != right
        else:
            assert character_of(left) != character_of(right)
    negatives = [(a, b) for a, b, label in pairs if label == 0]
    same = sum(alphabet_of(a) == alphabet_of(b) for a, b in negatives)
    assert 0.4 < same / len(negatives) < 0.6


@pytest.mark.parametrize(("same_alphabet", "expect_same"), [(0.0, False), (1.0, True)])
def test_same_alphabet_extremes(
    tiny_dataset: tuple[Path, object], same_alphabet: float, expect_same: bool
) -> None:
    dataset = scan_dataset(tiny_dataset[0])
    pairs = sample_pairs(dataset, 400, same_alphabet, Rng(5, "pairs"))
    negatives = [(a, b) for a, b, label in pairs if label == 0]
    assert all((alphabet_of(a) == alphabet_of(b)) is expect_same for a, b in negatives)


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_dataset: tuple[Path, object]) -> None:
    dataset = scan_dataset(tiny_dataset[0])
    first = format_pairs(sample_pairs(dataset, 200, 0.5, Rng(9, "pairs")))
    again = format_pairs(sample_pairs(scan_dataset(tiny_dataset[0]), 200, 0.5, Rng(9, "pairs")))
    other = format_pairs(sample_pairs(dataset, 200, 0.5, Rng(10, "pairs")))
    assert first == again
    assert first != other


def test_scan_sorts_by_bytes_and_skips_dot_entries_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, {"b": {"x": 2}, "B": {"x": 2}, "_": {"x": 2}, ".hidden": {"x": 2}})
    (root / "B" / "x" / "notes.txt").write_text("not an image")
    (root / "B" / "x" / ".01.png").write_bytes(b"ignored")
    (root / "B" / "x" / "upper.PNG").write_bytes(b"ignored: the suffix is case-sensitive")
    (root / "README").write_text("a file at the alphabet level is ignored")
    (root / "b" / "x" / "sub.png").mkdir()
    dataset = scan_dataset(root)
    assert dataset.alphabets == ("B", "_", "b")
    assert dataset.images[0] == ("B/x/00.png", "B/x/01.png")
    assert dataset.num_images == 6


def test_scan_follows_symbolic_links(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_dataset(elsewhere, {"Real": {"c1": 2}})
    root = tmp_path / "data"
    make_dataset(root, {"A": {"c1": 2}})
    os.symlink(elsewhere / "Real", root / "Linked")
    assert scan_dataset(root).alphabets == ("A", "Linked")


def test_empty_root_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: data set has no alphabet folder"):
        scan_dataset(tmp_path / "empty")
    with pytest.raises(InputError, match="missing: data set root is not a folder"):
        scan_dataset(tmp_path / "missing")


def test_character_with_one_image_is_an_error_naming_it(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"A": {"c1": 2, "c2": 1}, "B": {"c1": 2}})
    with pytest.raises(
        InputError, match=r"A/c2: character has 1 \.png image\(s\), expected at least 2"
    ):
        scan_dataset(tmp_path)


def test_alphabet_without_characters_is_an_error_naming_it(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"A": {"c1": 2}})
    (tmp_path / "Empty").mkdir()
    with pytest.raises(InputError, match="Empty: alphabet has no character folder"):
        scan_dataset(tmp_path)


def test_alphabet_with_one_character_fails_only_when_same_alphabet_is_drawn(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"A": {"c1": 2, "c2": 2}, "Lonely": {"c1": 2}})
    dataset = scan_dataset(tmp_path)
    with pytest.raises(InputError, match="Lonely: alphabet has a single character"):
        sample_pairs(dataset, 10, 0.5, Rng(1, "pairs"))
    pairs = sample_pairs(dataset, 10, 0.0, Rng(1, "pairs"))
    assert len(pairs) == 10


def test_single_alphabet_needs_same_alphabet_one(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"Only": {"c1": 2, "c2": 2}})
    dataset = scan_dataset(tmp_path)
    with pytest.raises(InputError, match="data set has a single alphabet"):
        sample_pairs(dataset, 10, 0.99, Rng(1, "pairs"))
    negatives = [p for p in sample_pairs(dataset, 10, 1.0, Rng(1, "pairs")) if p[2] == 0]
    assert all(character_of(a) != character_of(b) for a, b, _ in negatives)


def test_name_with_a_tab_is_an_error_naming_it(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"A": {"c1": 2}, "B": {"c\t1": 2}})
    with pytest.raises(InputError, match="contains a tab or newline"):
        scan_dataset(tmp_path)


def test_pair_file_has_exact_bytes_and_reads_back(tiny_dataset: tuple[Path, object]) -> None:
    root = tiny_dataset[0]
    pairs = [
        ("Alpha/character01/00.png", "Alpha/character01/02.png", 1),
        ("Alpha/character01/00.png", "Beta/character02/01.png", 0),
    ]
    path = root.parent / "pairs.tsv"
    write_pairs(path, pairs)
    assert path.read_bytes() == (
        b"left\tright\tlabel\n"
        b"Alpha/character01/00.png\tAlpha/character01/02.png\t1\n"
        b"Alpha/character01/00.png\tBeta/character02/01.png\t0\n"
    )
    assert read_pairs(path, root) == pairs


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", r"pairs.tsv:1: expected the header"),
        (b"left,right,label\n", r"pairs.tsv:1: expected the header"),
        (b"left\tright\tlabel\nAlpha/character01/00.png\t1\n", r"pairs.tsv:2: expected 3 tab-sep"),
        (b"left\tright\tlabel\n\n", r"pairs.tsv:2: expected 3 tab-separated fields, got 1"),
        (
            b"left\tright\tlabel\nAlpha/character01/00.png\tAlpha/character01/01.png\t2\n",
            r"pairs.tsv:2: label '2' is not 0 or 1",
        ),
        (
            b"left\tright\tlabel\nAlpha/character01/00.png\tAlpha/character01/01.png\t1\r\n",
            r"pairs.tsv:2: label '1\\r' is not 0 or 1",
        ),
        (
            b"left\tright\tlabel\n/etc/passwd\tAlpha/character01/01.png\t1\n",
            r"pairs.tsv:2: path '/etc/passwd' is absolute",
        ),
        (
            b"left\tright\tlabel\nAlpha/../Alpha/character01/00.png\tAlpha/character01/01.png\t1\n",
            r"pairs.tsv:2: path .* has a '\.\.' component",
        ),
        (
            b"left\tright\tlabel\nAlpha/character01/00.png\tAlpha/character01/01.png\t1\n"
            b"Alpha/character01/09.png\tAlpha/character01/01.png\t1\n",
            r"pairs.tsv:3: path 'Alpha/character01/09.png' does not name an image file",
        ),
        (b"left\tright\tlabel\n\xff\tx\t1\n", r"pairs.tsv: not UTF-8"),
    ],
)
def test_pair_file_reader_rejects_bad_lines_naming_file_and_line(
    tiny_dataset: tuple[Path, object], body: bytes, message: str
) -> None:
    root = tiny_dataset[0]
    path = root.parent / "pairs.tsv"
    path.write_bytes(body)
    with pytest.raises(InputError, match=message):
        read_pairs(path, root)


def test_real_omniglot_subset_scans_and_samples(omniglot_small1: Path) -> None:
    dataset = scan_dataset(omniglot_small1)
    assert len(dataset.alphabets) == 5 and dataset.num_images == 2720
    assert list(dataset.alphabets) == sorted(dataset.alphabets, key=os.fsencode)
    pairs = sample_pairs(dataset, 2000, 0.5, Rng(11, "pairs"))
    assert pairs == reference_pairs(dataset, 2000, 0.5, 11)
    assert np.mean([label for _, _, label in pairs]) == 0.5
