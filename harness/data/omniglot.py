"""Fetch the real Omniglot: download or take local zips, verify them, unpack them safely.

    python -m harness data omniglot --out DIR [--zip PATH ...]

Without `--zip` it downloads the official archives of brendenlake/omniglot (by default
images_background and images_evaluation) and checks their official md5. Offline it fails in one
line that says to pass `--zip PATH`. With `--zip` it unpacks exactly the given zips, each
recognised by its contents (an image set or `all_runs`), to `DIR/<set>/...`.

Checksum policy for a local zip, first match wins:
1. its MD5 is an official one, or its SHA-256 is one of the known copies (the repacked full sets
   and the official small sets in ../shared/omniglot/): verified;
2. a `SHA256SUMS` file beside it lists it: verified when equal, refused when not;
3. otherwise it is unpacked after the structure check, with a note that it was not
   checksum-verified (a re-zipped Omniglot is still useful; the structure check, the zip's own
   CRCs and the pair files' fingerprint in results.json guard against damage).
A downloaded zip must match its official MD5. A set folder already complete in DIR (unpacked by
this tool) is kept, not unpacked again. With images_evaluation, the Koch validation and test
halves are written beside it (harness/data/split.py).
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.data.split import split_evaluation
from harness.data.unpack import inspect_zip, is_complete, missing_files, unpack
from harness.errors import HarnessError

BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python"


@dataclass(frozen=True)
class Archive:
    """An official Omniglot zip: where to get it and its official MD5."""

    name: str
    url: str
    md5: str


ARCHIVES = {
    a.name: a
    for a in (
        Archive(
            "images_background",
            f"{BASE_URL}/images_background.zip",
            "68d2efa1b9178cc56df9314c21c6e718",
        ),
        Archive(
            "images_evaluation",
            f"{BASE_URL}/images_evaluation.zip",
            "6b91aef0f799c5bb55b94e3f2daec811",
        ),
        Archive(
            "images_background_small1",
            f"{BASE_URL}/images_background_small1.zip",
            "e704a628b5459e08445c13499850abc4",
        ),
        Archive(
            "images_background_small2",
            f"{BASE_URL}/images_background_small2.zip",
            "b75a71a51d3b13f821f212756fe481fd",
        ),
        Archive(
            "all_runs",
            f"{BASE_URL}/one-shot-classification/all_runs.zip",
            "e8996daecdf12afeeb4a53a179f06b19",
        ),
    )
}

# SHA-256 of the copies in ../shared/omniglot/ (its SHA256SUMS): the two full sets there are
# repacked from byte-identical PNGs, so they do not have the official MD5s.
KNOWN_SHA256 = {
    "1c403bc8872b71955ed4b4a859e856d935b125795d07769f7cd4a21030c62d1d": "images_background",
    "89527409270651d592bc4a24e3f06c56bd5b086e51c1a05e99a0b5e585550edd": "images_evaluation",
    "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4": "images_background_small1",
    "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f": "images_background_small2",
    "437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325": "all_runs",
}
OFFICIAL_MD5 = {a.md5: a.name for a in ARCHIVES.values()}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def download(url: str, dest: Path, timeout_s: float) -> None:
    """Save `url` to `dest` (network errors propagate; `fetch_omniglot` words them)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "xb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def fetch_omniglot(
    out: Path,
    *,
    zips: Sequence[Path] = (),
    sets: Sequence[str] = ("images_background", "images_evaluation"),
    timeout_s: float = 30,
    log: Callable[[str], None] = _stderr,
) -> list[Path]:
    """Unpack the given zips (or download `sets`) into `out`; return the set folders.

    `sets` is used only when `zips` is empty. Progress and checksum notes go to `log` (stderr by
    default). Every user-facing failure is a one-line `HarnessError`.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{out} is a file; expected a folder for the Omniglot sets")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create {out}: {exc.strerror}") from None
    folders: list[Path] = []
    if zips:
        for zip_path in zips:
            folders.append(_from_local_zip(Path(zip_path), out, log))
    else:
        for name in sets:
            folders.append(_from_download(name, out, timeout_s, log))
    for folder in list(folders):
        if folder.name == "images_evaluation":  # Koch's validation and test halves
            folders.extend(split_evaluation(folder, log))
    return list(dict.fromkeys(folders))


def _digests(path: Path) -> tuple[str, str]:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
            sha256.update(block)
    return md5.hexdigest(), sha256.hexdigest()


def _listed_sha256(zip_path: Path) -> str | None:
    """The SHA-256 a `SHA256SUMS` file beside the zip gives for it, if any."""
    sums = zip_path.parent / "SHA256SUMS"
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == zip_path.name:
            return fields[0].lower()
    return None


def _verify_local(zip_path: Path) -> str:
    """How the zip was verified (raises HarnessError on a checksum mismatch)."""
    md5, sha256 = _digests(zip_path)
    if md5 in OFFICIAL_MD5:
        return f"official MD5 of {OFFICIAL_MD5[md5]}.zip"
    if sha256 in KNOWN_SHA256:
        return f"known SHA-256 of {KNOWN_SHA256[sha256]}.zip"
    listed = _listed_sha256(zip_path)
    if listed is not None:
        if listed != sha256:
            raise HarnessError(
                f"{zip_path}: checksum mismatch: SHA-256 is {sha256}, "
                f"{zip_path.parent / 'SHA256SUMS'} says {listed}; the file is damaged or replaced"
            )
        return "SHA-256 listed in SHA256SUMS beside it"
    return ""


def _from_local_zip(zip_path: Path, out: Path, log: Callable[[str], None]) -> Path:
    if not zip_path.is_file():
        raise HarnessError(f"--zip {zip_path}: no such file; expected an Omniglot .zip")
    try:
        verified = _verify_local(zip_path)
    except OSError as exc:
        raise HarnessError(f"cannot read {zip_path}: {exc.strerror}") from None
    return _unpack_checked(zip_path, out, verified, log)


def _unpack_checked(zip_path: Path, out: Path, verified: str, log: Callable[[str], None]) -> Path:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            layout = inspect_zip(zip_path, zf)
            final = out / layout.name
            if is_complete(final):
                log(f"{final}: already complete, kept")
                return final
            if final.exists():
                missing = missing_files(out, layout)
                if missing == 0:
                    log(f"{final}: already holds every file of {zip_path.name}, kept")
                    return final
                raise HarnessError(
                    f"{final} exists but lacks {missing} of the {len(layout.files)} files of "
                    f"{zip_path.name}; remove it or choose another --out"
                )
            if verified:
                log(f"{zip_path}: verified ({verified}); {layout.description}")
            else:
                log(
                    f"{zip_path}: not checksum-verified (unknown archive); structure checked: "
                    f"{layout.description}"
                )
            provenance = {"zip": zip_path.name, "verified": verified or "structure only"}
            return unpack(zip_path, zf, layout, out, provenance)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise HarnessError(f"{zip_path}: not a readable zip file ({exc})") from None
    except OSError as exc:
        raise HarnessError(f"cannot read {zip_path}: {exc}") from None


def _from_download(name: str, out: Path, timeout_s: float, log: Callable[[str], None]) -> Path:
    archive = ARCHIVES.get(name)
    if archive is None:
        raise HarnessError(f"unknown Omniglot set {name!r}; expected one of {', '.join(ARCHIVES)}")
    if is_complete(out / name):
        log(f"{out / name}: already complete, kept")
        return out / name
    tmp_parent = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=out))
    try:
        part = tmp_parent / f"{name}.zip"
        log(f"downloading {archive.url} ...")
        try:
            download(archive.url, part, timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise HarnessError(
                f"cannot download {archive.url} ({reason}); without internet, pass local zips "
                f"with --zip PATH, e.g. --zip ../shared/omniglot/{name}.zip"
            ) from None
        md5, _ = _digests(part)
        if md5 != archive.md5:
            raise HarnessError(
                f"checksum mismatch for {archive.url}: MD5 is {md5}, expected {archive.md5}; "
                "the download is damaged or the file changed upstream"
            )
        return _unpack_checked(part, out, f"official MD5 of {name}.zip", log)
    finally:
        shutil.rmtree(tmp_parent, ignore_errors=True)
