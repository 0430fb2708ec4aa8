"""site/index.html of `harness publish` opened in a real headless Chromium: its tables and its
history plots render (chromium and the probe are test_report_browser's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from harness.publish.command import publish
from tests.harness.publishfixtures import XEON, ZEN3, answer_record, variant, write
from tests.harness.test_report_browser import PROBE, chromium, run_chromium


@pytest.mark.slow
def test_the_site_renders_its_tables_and_history_plots_in_chromium(tmp_path: Path) -> None:
    browser = chromium()
    base = answer_record(tmp_path / "run")
    archive = tmp_path / "archive"
    for machine, run, day, commit, scale in [
        (ZEN3, "answer-20261201-100000", 1, "a" * 40, 1.0),
        (ZEN3, "answer-20261203-100000", 3, "b" * 40, 1.2),
        (XEON, "answer-20261202-100000", 2, "c" * 40, 0.5),
    ]:
        write(archive, variant(base, machine, run, day, commit, scale))
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    (checkout / "README.md").write_text("<!-- answer:begin -->\n<!-- answer:end -->\n")
    (checkout / "docs" / "results.md").write_text(
        "<!-- answer-by-cpu:begin -->\n<!-- answer-by-cpu:end -->\n"
    )
    assert publish(archive, checkout, check=False) == 0
    site = checkout / "site" / "index.html"
    plots = site.read_text().count("data:image/png;base64,")
    assert plots >= 2 * 5  # every headline row of each machine (5 rows here)

    probed = tmp_path / "probed.html"
    probed.write_text(site.read_text().replace("</body>", PROBE + "</body>"))
    proc = run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", probed.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:2000]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-images"] == attrs["data-images-rendered"] == str(plots)
    assert all(int(w) >= 300 for w in attrs["data-widths"].split(","))
    # the headline's 5 rows and 5 in each implementation's table by CPU
    assert int(attrs["data-tables"]) == 15
    for table in ("headline", "by-cpu-rust-native", "by-cpu-rust-tch"):
        assert f'data-table="{table}"' in proc.stdout
    assert f'id="history-{ZEN3}"' in proc.stdout and f'id="history-{XEON}"' in proc.stdout

    shot = tmp_path / "shot.png"
    proc = run_chromium(
        browser,
        tmp_path / "profile-shot",
        "--window-size=1200,2400",
        f"--screenshot={shot}",
        site.as_uri(),
    )
    assert proc.returncode == 0 and shot.is_file() and shot.stat().st_size > 0, proc.stderr[-2000:]
    with Image.open(shot) as img:
        colours = img.convert("RGB").getcolors(1 << 24) or []
    assert len(colours) > 50  # text, tables and plots, not a blank page
