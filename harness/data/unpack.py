"""Safe unpacking of Omniglot zips: every entry is checked before a single byte is written.

`inspect_zip` recognises the two layouts and rejects anything unsafe or unexpected:

- an image set: `<set>/<Alphabet>/characterNN/<name>.png` (plus directory entries), unpacked to
  `DIR/<set>/...`;
- Lake's one-shot runs (`all_runs.zip`): `runNN/class_labels.txt`, `runNN/test/itemNN.png`,
  `runNN/training/classNN.png` at the top of the zip (or under one `all_runs/` folder), unpacked
  to `DIR/all_runs/runNN/...`; every path named in a `class_labels.txt` must be in the zip.

An entry is refused, naming it, when it is absolute, has a `..` component, a backslash or a NUL,
resolves outside DIR, is a symbolic link or another special file, or appears twice. Entries
under `__MACOSX/` and names starting with `.` are checked too but not unpacked. `unpack` writes
into a temporary folder inside DIR and renames it to `DIR/<set>` only when every entry has been
written and passed its CRC check, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError

UNPACKED_MARKER = ".oneshot-unpacked.json"
MAX_ENTRIES = 200_000
MAX_UNPACKED_BYTES = 2 * 1024**3
_IMAGE_ENTRY = re.compile(r"[^/]+/[^/]+/character\d+/[^/]+\.png")
_RUN_ENTRY = re.compile(r"run\d+/(class_labels\.txt|test/item\d+\.png|training/class\d+\.png)")


@dataclass(frozen=True)
class ZipLayout:
    """What a checked zip holds and where each file goes, relative to DIR."""

    name: str  # the set folder: images_background, ..., or all_runs
    files: tuple[tuple[zipfile.ZipInfo, str], ...]  # (entry, destination relative to DIR)
    description: str  # e.g. "30 alphabets, 964 characters, 19280 images"


def _reject(zip_path: Path, name: str, why: str) -> HarnessError:
    return HarnessError(f"{zip_path}: unsafe or unexpected entry {name!r}: {why}")


def _check_entry(zip_path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    if "\0" in name or "\\" in name:
        raise _reject(zip_path, name, "contains a NUL or a backslash")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _reject(zip_path, name, "is an absolute path")
    if ".." in name.split("/"):
        raise _reject(zip_path, name, "has a '..' component")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
        raise _reject(zip_path, name, f"is {kind}; expected regular files and folders")


def _is_ignored(name: str) -> bool:
    parts = [p for p in name.split("/") if p]
    return not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def inspect_zip(zip_path: Path, zf: zipfile.ZipFile) -> ZipLayout:
    """Check every entry of an open zip and work out its layout; raise HarnessError if unfit."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise HarnessError(f"{zip_path}: {len(infos)} entries; expected at most {MAX_ENTRIES}")
    seen: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    total_bytes = 0
    for info in infos:
        _check_entry(zip_path, info)
        key = info.filename.rstrip("/")
        if key in seen:
            raise _reject(zip_path, info.filename, "appears twice")
        seen.add(key)
        if not info.is_dir() and not _is_ignored(info.filename):
            files.append(info)
            total_bytes += info.file_size
    if total_bytes > MAX_UNPACKED_BYTES:
        raise HarnessError(
            f"{zip_path}: would unpack to {total_bytes} bytes; expected at most "
            f"{MAX_UNPACKED_BYTES} (is this an Omniglot zip?)"
        )
    if not files:
        raise HarnessError(f"{zip_path}: no files; expected an Omniglot image set or all_runs")
    if all(_RUN_ENTRY.fullmatch(i.filename) for i in files):
        return _runs_layout(zip_path, zf, files, "")
    if all(i.filename.startswith("all_runs/") for i in files) and all(
        _RUN_ENTRY.fullmatch(i.filename[len("all_runs/") :]) for i in files
    ):
        return _runs_layout(zip_path, zf, files, "all_runs/")
    return _images_layout(zip_path, files)


def _images_layout(zip_path: Path, files: list[zipfile.ZipInfo]) -> ZipLayout:
    for info in files:
        if not _IMAGE_ENTRY.fullmatch(info.filename):
            raise _reject(
                zip_path,
                info.filename,
                "expected <set>/<Alphabet>/characterNN/<image>.png "
                "or all_runs' runNN/{class_labels.txt,test/itemNN.png,training/classNN.png}",
            )
    sets = sorted({i.filename.split("/")[0] for i in files})
    if len(sets) != 1:
        raise HarnessError(f"{zip_path}: several top folders {sets}; expected one image set")
    characters = {tuple(i.filename.split("/")[1:3]) for i in files}
    alphabets = {alphabet for alphabet, _ in characters}
    description = f"{len(alphabets)} alphabets, {len(characters)} characters, {len(files)} images"
    return ZipLayout(sets[0], tuple((i, i.filename) for i in files), description)


def _runs_layout(
    zip_path: Path, zf: zipfile.ZipFile, files: list[zipfile.ZipInfo], prefix: str
) -> ZipLayout:
    names = {i.filename[len(prefix) :] for i in files}
    runs = sorted({name.split("/")[0] for name in names})
    for run in runs:
        labels = f"{run}/class_labels.txt"
        if labels not in names:
            raise HarnessError(f"{zip_path}: {run} has no class_labels.txt")
        text = _read_text(zip_path, zf, prefix + labels)
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if len(fields) != 2 or any(f not in names for f in fields):
                raise HarnessError(
                    f"{zip_path}: {labels} line {number}: expected two image paths in the zip "
                    f"('runNN/test/itemNN.png runNN/training/classNN.png'), got {line!r}"
                )
    description = f"{len(runs)} runs, {len(files)} files"
    return ZipLayout(
        "all_runs", tuple((i, "all_runs/" + i.filename[len(prefix) :]) for i in files), description
    )


def _read_text(zip_path: Path, zf: zipfile.ZipFile, name: str) -> str:
    try:
        return zf.read(name).decode("utf-8")
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{zip_path}: entry {name!r} is corrupt ({exc})") from None


def is_complete(folder: Path) -> bool:
    """True when `folder` was written in full by `unpack` (its marker is present)."""
    return (folder / UNPACKED_MARKER).is_file()


def missing_files(out: Path, layout: ZipLayout) -> int:
    """How many of the zip's files are absent from `out` or have another size."""
    missing = 0
    for info, rel in layout.files:
        path = out / rel
        if not path.is_file() or path.stat().st_size != info.file_size:
            missing += 1
    return missing


def unpack(
    zip_path: Path, zf: zipfile.ZipFile, layout: ZipLayout, out: Path, provenance: dict[str, str]
) -> Path:
    """Write the checked entries to `out/<layout.name>` atomically; return that folder."""
    final = out / layout.name
    tmp_parent = Path(tempfile.mkdtemp(prefix=f".{layout.name}.tmp-", dir=out))
    try:
        root = os.path.normpath(tmp_parent)
        for info, rel in layout.files:
            dest = tmp_parent / PurePosixPath(rel)
            # Lexical check: this tree is ours and holds no symbolic links, so it is exact.
            if not os.path.normpath(dest).startswith(root + os.sep):
                raise _reject(zip_path, info.filename, f"resolves outside {out}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(dest, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise HarnessError(
                    f"{zip_path}: entry {info.filename!r} is corrupt ({exc})"
                ) from None
        marker = {"format_version": 1, "files": len(layout.files), **provenance}
        (tmp_parent / layout.name / UNPACKED_MARKER).write_text(
            json.dumps(marker, indent=2) + "\n", encoding="utf-8"
        )
        (tmp_parent / layout.name).rename(final)
    except OSError as exc:
        raise HarnessError(f"cannot unpack {zip_path} into {out}: {exc}") from None
    finally:
        shutil.rmtree(tmp_parent, ignore_errors=True)
    return final
