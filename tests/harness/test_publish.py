"""`harness publish` on archives of fake answer runs, into copies of README.md and
docs/results.md with markers: the blocks, idempotence, `--check`, no answer run, the labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.archive.record import ArchivedPoint, ArchivedSweep, Record
from harness.archive.write import read_record
from harness.cli import main as cli_main
from harness.publish.answer import answer_of
from harness.publish.serving import SERVING_MARKERS
from harness.publish.texts import README_MARKERS, RESULTS_MARKERS
from tests.harness.publishfixtures import XEON, ZEN3, answer_record, variant, write

REPO = Path(__file__).resolve().parents[2]
README_FOOT = "\n## The answer so far\n\n" + "\n".join(README_MARKERS) + "\n\nAfter the block.\n"
RESULTS_HEAD = "# Results\n\n" + "\n".join(RESULTS_MARKERS) + "\n\n## The notebook\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return answer_record(tmp_path_factory.mktemp("publish-run"))


@pytest.fixture
def archive(base: Record, tmp_path: Path) -> Path:
    """Two Zen 3 answer runs (the newer is the headline), a Xeon one and a newer non-answer run."""
    root = tmp_path / "archive"
    write(root, variant(base, ZEN3, "answer-20261201-100000", 1, "a" * 40))
    write(root, variant(base, ZEN3, "answer-20261203-100000", 3, "b" * 40, scale=1.1))
    write(root, variant(base, XEON, "answer-20261202-100000", 2, "c" * 40, scale=0.5))
    other = variant(base, XEON, "fake-20261209-100000", 9, "d" * 40)
    write(root, other.model_copy(update={"name": "fake"}))
    return root


def readme_without_answer() -> str:
    """The project's README with its own answer and serving blocks (markers included) out."""
    readme = (REPO / "README.md").read_text()
    for begin, end in (README_MARKERS, SERVING_MARKERS):
        if begin in readme:
            head, rest = readme.split(begin, 1)
            readme = head + rest.split(end, 1)[1]
    return readme


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(readme_without_answer() + README_FOOT)
    (root / "docs" / "results.md").write_text(RESULTS_HEAD)
    return root


def publish(archive: Path, checkout: Path, *flags: str) -> int:
    return cli_main(["publish", "--archive", str(archive), "--root", str(checkout), *flags])


def block(text: str, markers: tuple[str, str]) -> str:
    return text.split(markers[0], 1)[1].split(markers[1], 1)[0]


def test_publish_writes_the_headline_the_answer_by_cpu_and_the_site(
    archive: Path, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (checkout / "README.md").read_text()
    assert publish(archive, checkout) == 0
    out = capsys.readouterr().out
    assert f"published: {checkout / 'README.md'}" in out and "site/index.html" in out
    readme = (checkout / "README.md").read_text()
    assert readme.startswith(before.split(README_MARKERS[0])[0])
    assert readme.endswith(README_MARKERS[1] + "\n\nAfter the block.\n")
    head = block(readme, README_MARKERS)
    assert "| task | python-torch | rust-native | rust-tch |" in head
    for row in (
        "| `step` b32 (tiny, direct) |",
        "| `forward` b64 (tiny, direct) |",
        "| `sample` |",
    ):
        assert row in head
    assert "| peak RSS, `step` b32 (tiny, direct) |" in head
    assert "| start-up to first event |" in head
    # The newest answer run of any machine: Zen 3's second, not the newer non-answer run.
    assert f"Run `answer-20261203-100000` of 2026-12-03 on `{ZEN3}`" in head
    assert "commit bbbbbbbbbb" in head and "fake-20261209" not in head
    assert "python -m harness run configs/answer.yaml" in head
    newest = read_record(archive / ZEN3 / "answer-20261203-100000.json.gz")
    step = next(
        c for c in newest.comparisons
        if (c.impl, c.task, c.metric) == ("rust-native", "step", "pairs_per_s")
    )  # fmt: skip
    assert step.ratio is not None and step.ci_low is not None and step.ci_high is not None
    cell = f"{step.ratio:.2f}x [{step.ci_low:.2f}, {step.ci_high:.2f}]"
    assert cell in head
    assert f"- rust-native is faster than python-torch on `step` b32 (tiny, direct): {cell}" in head

    results = (checkout / "docs" / "results.md").read_text()
    assert results.startswith("# Results\n\n") and results.endswith("\n## The notebook\n")
    by_cpu = block(results, RESULTS_MARKERS)
    assert "## The answer by CPU" in by_cpu and "### rust-native" in by_cpu
    assert f"| task | `{ZEN3}` | `{XEON}` |" in by_cpu
    assert "answer-20261201-100000" not in by_cpu  # Zen 3's older run is history only
    assert "answer-20261202-100000" in by_cpu and "fake-20261209" not in by_cpu

    site = (checkout / "site" / "index.html").read_text()
    assert 'data-table="headline"' in site and 'data-table="by-cpu-rust-native"' in site
    assert site.count("data:image/png;base64,") >= 6  # a history plot per row and machine
    assert "answer-20261201-100000" in site  # the history lists every answer run
    assert "http://" not in site and "https://" not in site  # no external assets


def test_a_second_publish_changes_nothing_and_check_passes(
    archive: Path, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(archive, checkout) == 0
    files = [checkout / "README.md", checkout / "docs" / "results.md"]
    first = [f.read_bytes() for f in files]
    capsys.readouterr()
    assert publish(archive, checkout) == 0
    assert "README.md" not in capsys.readouterr().out  # nothing rewritten: only the site
    assert [f.read_bytes() for f in files] == first
    assert publish(archive, checkout, "--check") == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("run", "machine", "differ"),
    [
        ("answer-20261203-100000", ZEN3, ["README.md", "docs/results.md"]),  # the headline run
        ("answer-20261202-100000", XEON, ["docs/results.md"]),  # a column of the answer by CPU
    ],
)
def test_check_fails_naming_the_file_when_an_archived_figure_changes(
    archive: Path,
    checkout: Path,
    capsys: pytest.CaptureFixture[str],
    run: str,
    machine: str,
    differ: list[str],
) -> None:
    assert publish(archive, checkout) == 0
    files = [checkout / "README.md", checkout / "docs" / "results.md"]
    published = [f.read_bytes() for f in files]
    path = archive / machine / f"{run}.json.gz"
    record = read_record(path)
    i = next(i for i, c in enumerate(record.comparisons) if c.impl == "rust-tch" and c.ratio)
    changed = record.comparisons[i].model_copy(update={"ratio": record.comparisons[i].ratio * 2})
    comparisons = [*record.comparisons[:i], changed, *record.comparisons[i + 1 :]]
    write(archive, record.model_copy(update={"comparisons": comparisons}))
    capsys.readouterr()
    assert publish(archive, checkout, "--check") == 1
    lines = capsys.readouterr().out.splitlines()
    what = {"README.md": "the answer block", "docs/results.md": "the answer by CPU"}
    assert lines == [
        f"{name}: {what[name]} differs from the archive; run python -m harness publish"
        for name in differ
    ]
    assert [f.read_bytes() for f in files] == published  # --check writes nothing


def test_without_markers_publish_refuses_and_check_fails(
    archive: Path, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / "README.md").write_text("# no markers\n")
    assert publish(archive, checkout, "--check") == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("README.md: expected one <!-- answer:begin -->")
    assert out[1].startswith("docs/results.md: the answer by CPU differs")
    assert publish(archive, checkout) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: README.md: expected one <!-- answer:begin -->")
    assert err.count("\n") == 1
    assert (checkout / "README.md").read_text() == "# no markers\n"
    assert (checkout / "docs" / "results.md").read_text() == RESULTS_HEAD
    assert not (checkout / "site").exists()


def test_no_answer_run_publishes_nothing_and_check_passes_only_without_markers(
    base: Record, tmp_path: Path, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "only-other"
    write(archive, variant(base, ZEN3, "fake-1", 1, "e" * 40).model_copy(update={"name": "x"}))
    readme = (checkout / "README.md").read_text()
    assert publish(archive, checkout) == 2
    assert capsys.readouterr().out.strip() == (
        f"no answer run in {archive} (archive one: python -m harness archive RUN);"
        " nothing published"
    )
    assert (checkout / "README.md").read_text() == readme and not (checkout / "site").exists()
    # --check: both files hold markers, so both fail, named
    assert publish(archive, checkout, "--check") == 1
    assert capsys.readouterr().out.splitlines() == [
        f"README.md: holds answer markers but {archive} holds no answer run",
        f"docs/results.md: holds answer markers but {archive} holds no answer run",
    ]
    (checkout / "README.md").write_text(readme_without_answer())
    (checkout / "docs" / "results.md").write_text("# Results\n")
    assert publish(archive, checkout, "--check") == 0
    (tmp_path / "empty").mkdir()
    assert publish(tmp_path / "empty", checkout, "--check") == 0
    assert publish(tmp_path / "missing", checkout, "--check") == 1  # a given folder must exist
    assert "no such folder" in capsys.readouterr().err


def test_the_checkout_agrees_with_its_archive(capsys: pytest.CaptureFixture[str]) -> None:
    """What CI runs: before the first archived answer run this passes without markers."""
    assert cli_main(["publish", "--check"]) == 0, capsys.readouterr().out


def at_two_points(base: Record, sweep: ArchivedSweep) -> Record:
    """`base`'s measurements and comparisons repeated at the sweep's points 0 and 1."""
    at = [
        [x.model_copy(update={"point": p}) for x in items]
        for p in (0, 1)
        for items in (base.measurements, base.comparisons)
    ]
    return base.model_copy(
        update={"sweep": sweep, "measurements": at[0] + at[2], "comparisons": at[1] + at[3]}
    )


def test_a_sweeps_points_are_rows_and_data_tasks_are_kept_once(base: Record) -> None:
    """Rows by network, then convolution algorithm (every direct row, then every fft row)."""
    sweep = ArchivedSweep(
        keys=["model.conv"],
        points=[
            ArchivedPoint(index=0, values={"model.conv": "direct"}),
            ArchivedPoint(index=1, values={"model.conv": "fft"}),
        ],
    )
    record = at_two_points(base, sweep)
    labels = [key.label for key in answer_of(record).rows]
    assert labels == [
        "`step` b32 (tiny, direct)",
        "`forward` b64 (tiny, direct)",
        "`step` b32 (tiny, fft)",
        "`forward` b64 (tiny, fft)",
        "`sample`",
        "peak RSS, `step` b32 (tiny, direct)",
        "peak RSS, `step` b32 (tiny, fft)",
        "start-up to first event",
    ]


def test_a_sweep_over_whole_models_names_each_points_network(base: Record) -> None:
    """configs/answer.yaml's shape: `sweep: {model: [{preset: paper, conv: fft}, ...]}`."""
    sweep = ArchivedSweep(
        keys=["model"],
        points=[
            ArchivedPoint(index=0, values={"model": {"preset": "tiny"}}),
            ArchivedPoint(index=1, values={"model": {"preset": "paper", "conv": "fft"}}),
        ],
    )
    record = at_two_points(base, sweep)
    labels = [key.label for key in answer_of(record).rows if key.figure == 0]
    assert labels == [
        "`step` b32 (paper, fft)",
        "`forward` b64 (paper, fft)",
        "`step` b32 (tiny, direct)",
        "`forward` b64 (tiny, direct)",
        "`sample`",
    ]
