"""The data set scan, pair sampling and the pair file (docs/sampling.md, implemented exactly).

`scan_dataset(root)` lists an Omniglot-layout folder `ROOT/<alphabet>/<character>/<image>.png`
in byte order of the names and validates it; `sample_pairs(dataset, n, same_alphabet, rng)`
draws `n` labelled pairs with the shared generator (`Rng(seed, "pairs")`) in the same order as
the Rust implementation, so both write byte-identical pair files; `write_pairs` / `read_pairs`
are the TSV pair file. Every failure is an `InputError` naming the folder, file or line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from oneshot_common.errors import InputError, TaskError
from oneshot_common.rng import Rng

HEADER = "left\tright\tlabel"

# One labelled pair: dataset-relative image paths with `/` separators, label 1 (same) or 0.
Pair = tuple[str, str, int]


@dataclass(frozen=True)
class Dataset:
    """A scanned data set; characters are numbered globally, alphabet by alphabet."""

    root: str
    alphabets: tuple[str, ...]
    alphabet_start: tuple[int, ...]  # global index of each alphabet's first character
    alphabet_size: tuple[int, ...]  # number of characters of each alphabet
    char_alphabet: tuple[int, ...]  # alphabet index of each global character
    images: tuple[tuple[str, ...], ...]  # each character's images, relative `a/c/f.png` paths

    @property
    def num_images(self) -> int:
        return sum(len(files) for files in self.images)

    def image_paths(self) -> list[str]:
        """All images' relative paths in data-set order (alphabet, character, file)."""
        return [path for files in self.images for path in files]


def _check_name(name: str, folder: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{folder}: entry name {name!r} is not valid UTF-8, expected UTF-8 names "
            "(pair files must hold them)"
        ) from None
    if "\t" in name or "\n" in name:
        raise InputError(
            f"{folder}: entry name {name!r} contains a tab or newline, "
            "expected names a pair file can hold"
        )


def _list(folder: str, dirs: bool) -> list[str]:
    """Sorted (byte order) names of the sub-folders, or of the `.png` files, of `folder`."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                wanted = entry.is_dir() if dirs else name.endswith(".png") and entry.is_file()
                if wanted:
                    _check_name(name, folder)
                    names.append(name)
    except OSError as exc:
        raise InputError(f"{folder}: cannot list the folder ({exc.strerror})") from None
    names.sort(key=os.fsencode)
    return names


def scan_dataset(root: str | os.PathLike[str]) -> Dataset:
    """Scan and validate an Omniglot-layout folder (docs/sampling.md, "The data set")."""
    root_str = os.fspath(root)
    if not os.path.isdir(root_str):
        raise InputError(f"{root_str}: data set root is not a folder, expected ROOT/<alphabet>/...")
    alphabets = _list(root_str, dirs=True)
    if not alphabets:
        raise InputError(
            f"{root_str}: data set has no alphabet folder, "
            "expected ROOT/<alphabet>/<character>/<image>.png"
        )
    starts: list[int] = []
    sizes: list[int] = []
    char_alphabet: list[int] = []
    images: list[tuple[str, ...]] = []
    for a, alphabet in enumerate(alphabets):
        alphabet_dir = os.path.join(root_str, alphabet)
        characters = _list(alphabet_dir, dirs=True)
        if not characters:
            raise InputError(f"{alphabet_dir}: alphabet has no character folder, expected >= 1")
        starts.append(len(images))
        sizes.append(len(characters))
        for character in characters:
            char_dir = os.path.join(alphabet_dir, character)
            files = _list(char_dir, dirs=False)
            if len(files) < 2:
                raise InputError(
                    f"{char_dir}: character has {len(files)} .png image(s), expected at least 2 "
                    "(a positive pair needs two drawers)"
                )
            prefix = f"{alphabet}/{character}/"
            images.append(tuple(prefix + f for f in files))
            char_alphabet.append(a)
    return Dataset(
        root_str, tuple(alphabets), tuple(starts), tuple(sizes), tuple(char_alphabet), tuple(images)
    )


def check_can_sample(dataset: Dataset, same_alphabet: float) -> None:
    """The validations that depend on `same_alphabet` (negatives need two characters)."""
    if same_alphabet > 0:
        for name, size in zip(dataset.alphabets, dataset.alphabet_size, strict=True):
            if size < 2:
                raise InputError(
                    f"{os.path.join(dataset.root, name)}: alphabet has a single character, "
                    f"expected at least 2 when same_alphabet > 0 (got {same_alphabet})"
                )
    if same_alphabet < 1 and len(dataset.alphabets) < 2:
        raise InputError(
            f"{dataset.root}: data set has a single alphabet, "
            f"expected at least 2 when same_alphabet < 1 (got {same_alphabet})"
        )


def sample_pairs(dataset: Dataset, n: int, same_alphabet: float, rng: Rng) -> list[Pair]:
    """Draw `n` pairs: even indices positive, odd negative, exactly as docs/sampling.md."""
    check_can_sample(dataset, same_alphabet)
    # Local names: this loop is the hot path of the `sample` task.
    below, uniform = rng.below, rng.uniform
    images, char_alphabet = dataset.images, dataset.char_alphabet
    starts, sizes = dataset.alphabet_start, dataset.alphabet_size
    num_chars, num_alphabets = len(images), len(starts)
    pairs: list[Pair] = []
    append = pairs.append
    for p in range(n):
        if p & 1 == 0:
            files = images[below(num_chars)]
            k = len(files)
            i = below(k)
            j = below(k - 1)
            if j >= i:
                j += 1
            append((files[i], files[j], 1))
        else:
            c1 = below(num_chars)
            a1 = char_alphabet[c1]
            if uniform() < same_alphabet:
                l1 = c1 - starts[a1]
                l2 = below(sizes[a1] - 1)
                if l2 >= l1:
                    l2 += 1
                c2 = starts[a1] + l2
            else:
                a2 = below(num_alphabets - 1)
                if a2 >= a1:
                    a2 += 1
                c2 = starts[a2] + below(sizes[a2])
            files1, files2 = images[c1], images[c2]
            append((files1[below(len(files1))], files2[below(len(files2))], 0))
    return pairs


def format_pairs(pairs: list[Pair]) -> bytes:
    """The pair file's exact bytes: header, one `left\\tright\\tlabel\\n` line per pair."""
    lines = [f"{left}\t{right}\t{label}\n" for left, right, label in pairs]
    return (HEADER + "\n" + "".join(lines)).encode("utf-8")


def write_pairs(path: str | os.PathLike[str], pairs: list[Pair]) -> None:
    """Write the pair file (UTF-8, `\\n` line endings, `/` separators)."""
    try:
        Path(path).write_bytes(format_pairs(pairs))
    except OSError as exc:
        raise TaskError(f"{os.fspath(path)}: cannot write the pair file ({exc.strerror})") from None


def _check_path(text: str, root: str, where: str) -> str:
    parts = text.split("/")
    if not text:
        raise InputError(f"{where}: empty path, expected a path relative to {root}")
    if text.startswith("/") or os.path.isabs(text):
        raise InputError(f"{where}: path {text!r} is absolute, expected a path relative to {root}")
    if ".." in parts:
        raise InputError(f"{where}: path {text!r} has a '..' component, expected a path under root")
    if not os.path.isfile(os.path.join(root, text)):
        raise InputError(f"{where}: path {text!r} does not name an image file under {root}")
    return text


def read_pairs(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> list[Pair]:
    """Read and validate a pair file whose paths are relative to `root` (docs/sampling.md)."""
    name, root_str = os.fspath(path), os.fspath(root)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read the pair file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not lines or lines[0] != HEADER:
        found = repr(lines[0]) if lines else "an empty file"
        raise InputError(f"{name}:1: expected the header 'left<TAB>right<TAB>label', got {found}")
    pairs: list[Pair] = []
    checked: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        where = f"{name}:{number}"
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(f"{where}: expected 3 tab-separated fields, got {len(fields)}")
        left, right, label = fields
        if label not in ("0", "1"):
            raise InputError(f"{where}: label {label!r} is not 0 or 1")
        for rel in (left, right):
            if rel not in checked:
                checked.add(_check_path(rel, root_str, where))
        pairs.append((left, right, int(label)))
    return pairs
