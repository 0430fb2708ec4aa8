"""report.md and report.html of a fake run: tables, plots, the `report` and `list` verbs."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from harness.cli import main
from harness.report.stored_runs import format_list
from tests.harness.fakerun import fake_run

LOSS_RUN = {
    "a": ["--rate", "100", "--losses", "12", "--sleep-s", "0.2", "--alloc-mb", "40"],
    "b": ["--rate", "250", "--losses", "12", "--variant", "z"],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    return fake_run(tmp_path_factory.mktemp("report"), LOSS_RUN, repeats=3)


def images(html: str) -> list[Image.Image]:
    out = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html):
        out.append(Image.open(io.BytesIO(base64.b64decode(data))))
    return out


@pytest.mark.slow
def test_every_run_writes_both_reports(run: tuple[dict[str, Any], Path]) -> None:
    _, run_dir = run
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()


@pytest.mark.slow
def test_html_is_self_contained_with_plots_and_tables(run: tuple[dict[str, Any], Path]) -> None:
    _, run_dir = run
    html = (run_dir / "report.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for table in ("throughput", "comparisons", "checks", "roofline", "phases", "machine"):
        assert f'data-table="{table}"' in html
    plots = re.findall(r'data-plot="([^"]+)"', html)
    assert plots == ["Throughput", "Loss 0", "Timeline 0"]
    for img in images(html):
        assert img.format == "PNG" and img.width > 300 and img.height > 200
        assert len(img.convert("RGB").getcolors(1 << 20) or []) > 20  # not a blank canvas


@pytest.mark.slow
def test_markdown_has_the_figures_and_verdicts(run: tuple[dict[str, Any], Path]) -> None:
    doc, run_dir = run
    md = (run_dir / "report.md").read_text()
    assert "| 0: sample | a | 100 pairs/s |" in md
    assert "| 0: sample | b | 250 pairs/s |" in md and "| 2.500 [2.500, 2.500] |" in md
    assert "| sampling | a vs b | 10 | 0 |  | FAIL | 10 of 11 lines differ |" in md
    verdict = md.split("\n## ")[1]  # the first section, before every table
    assert verdict.startswith("Verdict\n") and "FAILED: sampling (a vs b, task 0)" in verdict
    assert "on sample (task 0)" in verdict
    assert "SGEMM peak not measured: no compute task in this run" in md
    assert f"| data set sha256 | {doc['dataset']['sha256']} |" in md
    assert re.search(r"\| 0: sample \| a \| work \| [0-9.]+ \| [0-9.]+ MiB \|", md)


@pytest.mark.slow
def test_report_verb_rewrites_reports_and_exports(
    run: tuple[dict[str, Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_dir = run
    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir), "--export", "pytest-benchmark"]) == 0
    out = capsys.readouterr().out
    assert "report.md" in out and "pytest-benchmark.json" in out
    assert (run_dir / "report.md").is_file() and (run_dir / "pytest-benchmark.json").is_file()


def test_report_of_a_folder_without_results_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}: no results.json; expected a folder from `harness run`\n"


@pytest.mark.slow
def test_list_shows_stored_runs(run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, run_dir = run
    text = format_list(run_dir.parent)
    header, line = text.splitlines()
    assert header.split()[:3] == ["started", "(UTC)", "name"]
    assert " fake " in line and "finished" in line and "8/8 ok" in line and "0/1 ok" in line
    assert "no runs under" in format_list(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{")
    assert "unreadable" in format_list(tmp_path)
