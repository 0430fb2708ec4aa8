"""The Omniglot fetcher: local zips, checksum policy, safe unpacking, offline and bad archives.

No test touches the network: downloads go through `omniglot.download`, monkeypatched here.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import urllib.error
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from harness.data import omniglot
from harness.data.omniglot import fetch_omniglot
from harness.data.unpack import UNPACKED_MARKER
from harness.errors import HarnessError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "omniglot"


def shared_zip(name: str) -> Path:
    path = SHARED / f"{name}.zip"
    if not path.is_file():
        pytest.skip(f"{path} not found: the real Omniglot zips live in ../shared/omniglot/")
    return path


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (105, 105), 1).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def tiny_set(path: Path, set_name: str = "my_set") -> Path:
    image = png_bytes()
    return make_zip(
        path,
        {
            f"{set_name}/Alpha/character01/0001_01.png": image,
            f"{set_name}/Alpha/character01/0001_02.png": image,
            f"{set_name}/Beta/character01/0002_01.png": image,
        },
    )


def test_unpacks_the_official_small_zip_and_keeps_it_next_time(tmp_path: Path) -> None:
    zip_path = shared_zip("images_background_small1")
    log: list[str] = []
    out = tmp_path / "data"
    folders = fetch_omniglot(out, zips=[zip_path], log=log.append)
    assert folders == [out / "images_background_small1"]
    assert "verified (official MD5" in log[0] and "2720 images" in log[0]
    alphabets = sorted(p.name for p in folders[0].iterdir() if p.is_dir())
    assert alphabets == ["Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"]
    assert len(list(folders[0].glob("*/*/*.png"))) == 2720
    assert (folders[0] / UNPACKED_MARKER).is_file()
    assert sorted(p.name for p in out.iterdir()) == ["images_background_small1"]
    log.clear()
    assert fetch_omniglot(out, zips=[zip_path], log=log.append) == folders
    assert log == [f"{folders[0]}: already complete, kept"]


def test_all_runs_unpacks_under_all_runs(tmp_path: Path) -> None:
    zip_path = shared_zip("all_runs")
    (folder,) = fetch_omniglot(tmp_path, zips=[zip_path], log=lambda _: None)
    assert folder == tmp_path / "all_runs"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir())[:2] == ["run01", "run02"]
    assert len(list(folder.glob("run*/test/item*.png"))) == 400
    assert (folder / "run01" / "class_labels.txt").is_file()


def test_all_runs_with_a_missing_image_is_refused(tmp_path: Path) -> None:
    labels = b"run01/test/item01.png run01/training/class01.png\n"
    zip_path = make_zip(
        tmp_path / "runs.zip",
        {"run01/class_labels.txt": labels, "run01/test/item01.png": png_bytes()},
    )
    with pytest.raises(HarnessError, match=r"class_labels.txt line 1: expected two image paths"):
        fetch_omniglot(tmp_path / "out", zips=[zip_path])


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../evil.png", "has a '..' component"),
        ("my_set/Alpha/../../../evil.png", "has a '..' component"),
        ("/tmp/evil.png", "is an absolute path"),
        ("C:/evil.png", "is an absolute path"),
        ("my_set\\Alpha\\evil.png", "contains a NUL or a backslash"),
    ],
)
def test_rejects_entries_that_escape_the_folder(tmp_path: Path, entry: str, why: str) -> None:
    zip_path = tiny_set(tmp_path / "bad.zip")
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr(entry, b"evil")
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match=rf"unsafe or unexpected entry .*{why}"):
        fetch_omniglot(out, zips=[zip_path])
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil.png").exists()


def test_rejects_a_symbolic_link_entry(tmp_path: Path) -> None:
    zip_path = tiny_set(tmp_path / "link.zip")
    info = zipfile.ZipInfo("my_set/Alpha/character01/0001_03.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match=r"0001_03.png'.*is a symbolic link"):
        fetch_omniglot(out, zips=[zip_path])
    assert list(out.iterdir()) == []


def test_rejects_a_zip_of_another_layout(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "other.zip", {"docs/readme.txt": b"hello"})
    with pytest.raises(HarnessError, match=r"'docs/readme.txt'.*expected <set>/<Alphabet>"):
        fetch_omniglot(tmp_path / "out", zips=[zip_path])


def test_rejects_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "images_background.zip"
    path.write_bytes(b"this is not a zip" * 100)
    with pytest.raises(HarnessError, match="not a readable zip file"):
        fetch_omniglot(tmp_path / "out", zips=[path])


def test_a_corrupt_entry_leaves_nothing_written(tmp_path: Path) -> None:
    image = png_bytes()
    entries = {f"my_set/Alpha/character01/0001_{d:02d}.png": image for d in range(1, 4)}
    entries["my_set/Alpha/character02/0002_01.png"] = bytes(range(256)) * 40
    zip_path = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    raw = bytearray(zip_path.read_bytes())
    at = raw.index(bytes(range(256)))  # inside the last entry's stored data
    raw[at + 100] ^= 0xFF
    zip_path.write_bytes(bytes(raw))
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match=r"entry 'my_set/Alpha/character02/0002_01.png' is corr"):
        fetch_omniglot(out, zips=[zip_path])
    assert list(out.iterdir()) == []


def test_checksum_mismatch_against_sha256sums_is_refused(tmp_path: Path) -> None:
    zip_path = tiny_set(tmp_path / "my_set.zip")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  my_set.zip\n")
    with pytest.raises(HarnessError, match=r"checksum mismatch: SHA-256 is [0-9a-f]{64}"):
        fetch_omniglot(tmp_path / "out", zips=[zip_path])
    assert list((tmp_path / "out").iterdir()) == []


def test_a_zip_listed_in_sha256sums_is_verified(tmp_path: Path) -> None:
    zip_path = tiny_set(tmp_path / "my_set.zip")
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  my_set.zip\n")
    log: list[str] = []
    fetch_omniglot(tmp_path / "out", zips=[zip_path], log=log.append)
    assert "verified (SHA-256 listed in SHA256SUMS" in log[0]


def test_an_unknown_zip_is_unpacked_with_a_note(tmp_path: Path) -> None:
    zip_path = tiny_set(tmp_path / "images_background.zip", "images_background")
    log: list[str] = []
    (folder,) = fetch_omniglot(tmp_path / "out", zips=[zip_path], log=log.append)
    assert folder == tmp_path / "out" / "images_background"
    assert "not checksum-verified" in log[0] and "2 alphabets, 2 characters, 3 images" in log[0]
    assert len(list(folder.glob("*/*/*.png"))) == 3


def test_an_incomplete_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    zip_path = tiny_set(tmp_path / "my_set.zip")
    (tmp_path / "out" / "my_set" / "Alpha").mkdir(parents=True)
    with pytest.raises(HarnessError, match="exists but lacks 3 of the 3 files"):
        fetch_omniglot(tmp_path / "out", zips=[zip_path])


def test_a_missing_zip_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"--zip .*nope.zip: no such file"):
        fetch_omniglot(tmp_path / "out", zips=[tmp_path / "nope.zip"])


def test_offline_fails_in_one_line_that_says_to_pass_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, dest: Path, timeout_s: float) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(omniglot, "download", offline)
    out = tmp_path / "out"
    with pytest.raises(HarnessError) as caught:
        fetch_omniglot(out, log=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot download https://github.com/brendenlake/omniglot/raw/master/python/" in message
    assert "--zip PATH" in message and "--zip ../shared/omniglot/images_background.zip" in message
    assert list(out.iterdir()) == []


def test_a_download_with_the_wrong_md5_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tiny_set(tmp_path / "fake.zip", "images_background")
    monkeypatch.setattr(omniglot, "download", lambda url, dest, t: shutil.copy(fake, dest))
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match=r"checksum mismatch for .*images_background.zip: MD5"):
        fetch_omniglot(out, sets=["images_background"], log=lambda _: None)
    assert list(out.iterdir()) == []


def test_a_download_with_the_official_md5_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    official = shared_zip("images_background_small2")
    urls: list[str] = []

    def fake_download(url: str, dest: Path, timeout_s: float) -> None:
        urls.append(url)
        shutil.copy(official, dest)

    monkeypatch.setattr(omniglot, "download", fake_download)
    out = tmp_path / "out"
    folders = fetch_omniglot(out, sets=["images_background_small2"], log=lambda _: None)
    assert urls == [f"{omniglot.BASE_URL}/images_background_small2.zip"]
    assert folders == [out / "images_background_small2"]
    assert len(list(folders[0].glob("*/*/*.png"))) == 3120
    assert sorted(p.name for p in out.iterdir()) == ["images_background_small2"]


def test_an_unknown_set_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="unknown Omniglot set 'images_bg'; expected one of"):
        fetch_omniglot(tmp_path, sets=["images_bg"])
