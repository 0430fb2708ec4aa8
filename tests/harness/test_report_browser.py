"""report.html opened in a real headless Chromium: its plots decode and its tables are there.

Needs Debian's `chromium` (tests/ensure_chromium.sh installs it in tox's `py` environment when
run as root). Without it the test is skipped on a workstation and FAILS when CI=true, so CI can
never pass without having looked at the report in a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.harness.fakerun import fake_run

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Appended to a copy of the report: after load, write what the browser rendered into the DOM.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  const b = document.body;
  b.setAttribute("data-images", String(imgs.length));
  b.setAttribute("data-images-rendered", String(ok.length));
  b.setAttribute("data-tables", String(document.querySelectorAll("table tbody tr").length));
  b.setAttribute("data-widths", ok.map((i) => i.naturalWidth).join(","));
  b.setAttribute("data-first-section", document.querySelector("h2").id);
  const verdicts = document.querySelectorAll("ul[data-section=verdict] li");
  b.setAttribute("data-verdicts", String(verdicts.length));
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    why = "chromium not found: run tests/ensure_chromium.sh as root (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {why}; the report must be checked in a real browser")
    pytest.skip(why)


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_report_renders_plots_and_tables_in_chromium(tmp_path: Path) -> None:
    browser = chromium()
    _, run_dir = fake_run(
        tmp_path,
        {"a": ["--rate", "100", "--losses", "10", "--sleep-s", "0.2"], "b": ["--losses", "10"]},
        repeats=2,
    )
    html = (run_dir / "report.html").read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    proc = run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", probed.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:2000]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-images"] == "3"  # throughput, loss curves, RSS/CPU timeline
    assert attrs["data-images-rendered"] == "3"
    assert all(int(w) >= 300 for w in attrs["data-widths"].split(","))
    assert int(attrs["data-tables"]) >= 10
    assert attrs["data-first-section"] == "verdict" and int(attrs["data-verdicts"]) >= 2
    for table in ("throughput", "comparisons", "checks", "machine"):
        assert f'data-table="{table}"' in proc.stdout

    shot = tmp_path / "shot.png"
    proc = run_chromium(
        browser,
        tmp_path / "profile-shot",
        "--window-size=1000,1400",
        f"--screenshot={shot}",
        (run_dir / "report.html").as_uri(),
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as img:
        colours = img.convert("RGB").getcolors(1 << 24) or []
    assert len(colours) > 50  # text, tables and a plot, not a blank page


@pytest.mark.slow
def test_sweep_report_renders_its_crossover_plot_in_chromium(tmp_path: Path) -> None:
    from tests.harness.test_sweep import run as run_sweep

    browser = chromium()
    _, run_dir = run_sweep(tmp_path)
    probed = tmp_path / "probed.html"
    probed.write_text((run_dir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    proc = run_chromium(browser, tmp_path / "profile-sweep", "--dump-dom", probed.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:2000]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-images"] == attrs["data-images-rendered"] == "1"  # one series
    assert int(attrs["data-widths"]) >= 300
    assert attrs["data-first-section"] == "verdict" and int(attrs["data-verdicts"]) >= 2
    for table in ("crossover", "points", "machine"):
        assert f'data-table="{table}"' in proc.stdout
    assert "b is faster below" in proc.stdout
