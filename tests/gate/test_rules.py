"""The gates' rules on fabricated results: a fake-implementation run, its figures scaled."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.gate import EXIT_PASS, EXIT_REFUSED, EXIT_TRIPPED, calibrate, instructions, ratios
from harness.gate.reference import InstructionReference, RatioReference
from harness.results import Results, parse
from tests.harness.fakerun import fake_run


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of a baseline and two implementations, +-3% deterministic noise."""
    noise = ["--jitter", "0.03"]
    impls = {
        "base": ["--rate", "1000", *noise, "--jitter-seed", "1"],
        "fast": ["--rate", "3000", *noise, "--jitter-seed", "2"],
        "slow": ["--rate", "500", *noise, "--jitter-seed", "3"],
    }
    results, _ = fake_run(tmp_path_factory.mktemp("gate"), impls)
    return results


def scaled(
    doc: dict[str, Any],
    factors: dict[str, float],
    wobble: float = 0.0,
    figure: str = "pairs_per_s",
) -> Results:
    """The run with each implementation's throughput (or another figure) times its factor,
    and each repeat's value times 1 +- wobble (alternating): another run of the same builds."""
    out = copy.deepcopy(doc)
    for m in out["measurements"]:
        for i, run in enumerate(m["runs"]):
            sign = 1 if (i + len(m["impl"])) % 2 else -1
            factor = factors.get(m["impl"], 1.0) * (1 + sign * wobble)
            holder = run if figure in run else run["metrics"]
            value = holder[figure] * factor
            holder[figure] = int(value) if figure.endswith("_bytes") else value
    return parse(out)


def reference(doc: dict[str, Any]) -> RatioReference:
    return ratios.make_reference(parse(doc), Path("ref-run"))


def test_the_unchanged_run_passes_against_itself_and_a_noisy_rerun(doc: dict[str, Any]) -> None:
    ref = reference(doc)
    assert [f.impl for f in ref.figures] == ["fast", "slow"]
    for wobble in (0.0, 0.05):
        outcome = ratios.evaluate(scaled(doc, {}, wobble), ref, 1.5)
        assert outcome.exit_code == EXIT_PASS, outcome.tripped
        assert {r.verdict for r in outcome.rows} == {"ok"}


def test_a_slowed_implementation_trips_naming_it(doc: dict[str, Any]) -> None:
    outcome = ratios.evaluate(scaled(doc, {"fast": 0.4}, 0.05), reference(doc), 1.5)
    assert outcome.exit_code == EXIT_TRIPPED
    assert [r.verdict for r in outcome.rows] == ["slower", "ok"]
    (line,) = outcome.tripped
    assert line.startswith("TRIPPED: sample (task 0) fast: pairs_per_s ratio to base")
    assert "reference 3" in line and "below 1/1.5" in line


def test_a_slowdown_inside_the_factor_does_not_trip(doc: dict[str, Any]) -> None:
    outcome = ratios.evaluate(scaled(doc, {"fast": 0.8}), reference(doc), 1.5)
    assert outcome.exit_code == EXIT_PASS
    # ... but a tighter factor catches it
    assert ratios.evaluate(scaled(doc, {"fast": 0.8}), reference(doc), 1.1).tripped


def test_a_slowed_baseline_trips_naming_the_baseline(doc: dict[str, Any]) -> None:
    outcome = ratios.evaluate(scaled(doc, {"base": 0.4}), reference(doc), 1.5)
    assert outcome.exit_code == EXIT_TRIPPED
    assert {r.verdict for r in outcome.rows} == {"baseline slower"}
    (line,) = outcome.tripped
    assert "the baseline base is slower" in line


def test_one_faster_implementation_is_a_note_not_a_failure(doc: dict[str, Any]) -> None:
    outcome = ratios.evaluate(scaled(doc, {"slow": 3.0}), reference(doc), 1.5)
    assert outcome.exit_code == EXIT_PASS
    assert [r.verdict for r in outcome.rows] == ["ok", "faster"]
    assert any("slow is faster than the reference" in n for n in outcome.notes)


def test_refusals(doc: dict[str, Any]) -> None:
    ref = reference(doc)
    other = copy.deepcopy(doc)
    other["config"]["seed"] = 7
    with pytest.raises(HarnessError, match=r"config differs .*config.seed: 0 vs 7"):
        ratios.evaluate(parse(other), ref, 1.5)
    other = copy.deepcopy(doc)
    other["dataset"]["sha256"] = "0" * 64
    with pytest.raises(HarnessError, match="checksum"):
        ratios.evaluate(parse(other), ref, 1.5)
    other = copy.deepcopy(doc)
    other["measurements"] = [m for m in other["measurements"] if m["impl"] != "slow"]
    with pytest.raises(HarnessError, match="no measurement of slow"):
        ratios.evaluate(parse(other), ref, 1.5)
    with pytest.raises(HarnessError, match="factor above 1"):
        ratios.evaluate(parse(doc), ref, 1.0)
    # the repetitions are ignored: a reference of 5 repeats judges a run of 3
    other = copy.deepcopy(doc)
    other["config"]["repeats"] = 3
    assert ratios.evaluate(parse(other), ref, 1.5).exit_code == EXIT_PASS


def test_update_writes_a_readable_reference_and_main_gates_with_it(
    doc: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(doc))
    path = tmp_path / "ratios.json"
    assert ratios.main(run, path, 1.5, update=True) == EXIT_PASS
    text = path.read_text()
    assert '"baseline_values": [' in text and "made_by" in text and "git_commit" in text
    assert ratios.read_reference(path).figures == reference(doc).figures
    capsys.readouterr()
    assert ratios.main(run, path, 1.5, update=False) == EXIT_PASS
    out = capsys.readouterr().out
    assert "| sample (0) | fast" in out and out.endswith("ratio gate: passed\n")
    slowed = tmp_path / "slowed"
    slowed.mkdir()
    (slowed / "results.json").write_text(json.dumps(scaled(doc, {"slow": 0.3}).dump()))
    assert ratios.main(slowed, path, 1.5, update=False) == EXIT_TRIPPED
    assert "TRIPPED: sample (task 0) slow" in capsys.readouterr().out
    assert ratios.main(run, tmp_path / "missing.json", 1.5, update=False) == EXIT_REFUSED
    assert "no ratio reference" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    failed = dict(doc, builds=[{"impl": "slow", "ok": False, "wall_s": 1.0, "log": "b/slow.log"}])
    (broken / "results.json").write_text(json.dumps(failed))
    assert ratios.main(broken, path, 1.5, update=False) == EXIT_REFUSED
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "building slow failed (see b/slow.log)" in line


def test_a_reference_of_another_format_is_refused_with_the_command_that_remakes_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ratios.json"
    path.write_text(json.dumps({"format_version": 99, "figures": []}))
    with pytest.raises(HarnessError, match=r"not a ratio reference of format 1; remake it with"):
        ratios.read_reference(path)
    path.write_text("{")
    with pytest.raises(HarnessError, match=r"unreadable ratio reference"):
        ratios.read_reference(path)
    path.write_text(json.dumps({"format_version": 1, "impls": []}))
    with pytest.raises(HarnessError, match=r"not an instruction reference of format 1$"):
        instructions.read_reference(path)


def test_a_reference_with_a_misspelt_or_missing_key_is_refused_naming_it(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "ratios.json"
    good = reference(doc).model_dump()
    misspelt = dict(good, figures=[dict(good["figures"][0], impl_vals=[1.0])])
    path.write_text(json.dumps(misspelt))
    with pytest.raises(HarnessError, match=r"ratio reference invalid at figures\.0\.impl_vals"):
        ratios.read_reference(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "dataset_sha256"}))
    with pytest.raises(HarnessError, match=r"invalid at dataset_sha256: Field required; remake"):
        ratios.read_reference(path)
    path.write_text(json.dumps(good))
    assert ratios.read_reference(path) == reference(doc).model_copy(
        update={"made_utc": good["made_utc"]}
    )
    ins = ins_reference({"sample": 1}).model_dump()
    ins["impls"]["rust-x"]["instructions"]["sample"] = "many"
    path.write_text(json.dumps(ins))
    with pytest.raises(HarnessError, match=r"invalid at impls\.rust-x\.instructions\.sample"):
        instructions.read_reference(path)


# --- the memory gate's rule and the calibration -------------------------------------------------

MEMORY = ratios.MEMORY_GATE


def rss_scaled(doc: dict[str, Any], factors: dict[str, float], wobble: float = 0.0) -> Results:
    """The run with each implementation's peak RSS times its factor (and 1 +- wobble)."""
    return scaled(doc, factors, wobble, figure="peak_rss_bytes")


def test_the_memory_gate_trips_on_a_bloated_implementation_not_a_steady_one(
    doc: dict[str, Any],
) -> None:
    ref = ratios.make_reference(parse(doc), Path("ref-run"), MEMORY)
    assert {f.metric for f in ref.figures} == {"peak_rss_bytes"}
    assert ref.what.startswith("same-run peak-RSS ratios")
    assert ratios.evaluate(rss_scaled(doc, {}, 0.01), ref, 1.1, MEMORY).exit_code == EXIT_PASS
    outcome = ratios.evaluate(rss_scaled(doc, {"slow": 2.0}), ref, 1.1, MEMORY)
    assert outcome.exit_code == EXIT_TRIPPED
    assert [r.verdict for r in outcome.rows] == ["ok", "larger"]
    (line,) = outcome.tripped
    assert line.startswith("TRIPPED: sample (task 0) slow: peak_rss_bytes ratio to base")
    assert "wholly above 1.1" in line
    # a smaller implementation is a note; every implementation smaller at once: the baseline grew
    outcome = ratios.evaluate(rss_scaled(doc, {"fast": 0.5}), ref, 1.1, MEMORY)
    assert outcome.exit_code == EXIT_PASS
    assert "fast is smaller than the reference" in outcome.notes[-1]
    outcome = ratios.evaluate(rss_scaled(doc, {"base": 2.0}), ref, 1.1, MEMORY)
    assert {r.verdict for r in outcome.rows} == {"baseline larger"}
    assert "the baseline base is larger" in outcome.tripped[0]


def test_the_factor_is_the_calibrated_one_on_the_references_cpu_and_loose_on_another(
    doc: dict[str, Any],
) -> None:
    run = parse(doc)
    for gate in (ratios.THROUGHPUT_GATE, MEMORY):
        ref = ratios.make_reference(run, Path("ref-run"), gate)
        assert ratios.factor_for(run, ref, gate) == (
            gate.default_factor,
            f"factor {gate.default_factor:g}: the reference's kind of CPU",
        )
        other = ref.machine.model_copy(update={"cpu_flags": ["avx", "avx2", "fma"]})
        ref = ref.model_copy(update={"machine": other})  # another microarchitecture
        factor, why = ratios.factor_for(run, ref, gate)
        assert factor == gate.other_cpu_factor and "another kind of CPU" in why


def test_degraded_makes_one_implementation_worse_on_the_gates_figure_only(
    doc: dict[str, Any],
) -> None:
    run = parse(doc)
    slowed = calibrate.degraded(run, "fast", 2.0, ratios.THROUGHPUT_GATE)
    bloated = calibrate.degraded(run, "fast", 2.0, MEMORY)
    for before, after_slow, after_bloat in zip(
        run.measurements, slowed.measurements, bloated.measurements, strict=True
    ):
        for r0, r1, r2 in zip(before.runs, after_slow.runs, after_bloat.runs, strict=True):
            factor = 2.0 if before.impl == "fast" else 1.0
            assert r1.metrics["pairs_per_s"] == pytest.approx(r0.metrics["pairs_per_s"] / factor)
            assert r1.peak_rss_bytes == r0.peak_rss_bytes
            assert r2.peak_rss_bytes == pytest.approx(r0.peak_rss_bytes * factor)
            assert r2.metrics["pairs_per_s"] == r0.metrics["pairs_per_s"]


def test_calibration_counts_false_alarms_and_detections(doc: dict[str, Any]) -> None:
    runs = [scaled(doc, {}, w) for w in (0.0, 0.02, 0.04)]
    cal = calibrate.calibrate(runs, ratios.THROUGHPUT_GATE, [1.1], [1.02, 2.0])[1.1]
    assert cal.pairs == 6 and cal.false_alarm_runs == 0
    assert set(cal.false_alarm_figures.values()) == {0}
    assert {cal.detected[("sample", impl, 2.0)] for impl in ("fast", "slow")} == {6}
    assert {cal.detected[("sample", impl, 1.02)] for impl in ("fast", "slow")} == {0}
    # a run that is itself off by 1.5x is a false alarm at factor 1.1
    noisy = [*runs, scaled(doc, {"fast": 1 / 1.5})]
    cal = calibrate.calibrate(noisy, ratios.THROUGHPUT_GATE, [1.1], [2.0])[1.1]
    assert cal.false_alarm_runs > 0 and cal.false_alarm_figures[("sample", "fast")] > 0
    text = calibrate.render_calibration(cal, ratios.THROUGHPUT_GATE, 1.1, [2.0], len(noisy))
    assert "| sample | fast" in text and "caught at 2x" in text


# --- the instruction gate's rule ---------------------------------------------------------------


def measured(counts: dict[str, list[int]], rustc: str = "rustc 1.95.0 (abc 2026-04-14)") -> Any:
    binary = instructions.Binary("rust-x", Path("/nonexistent"), Path("."), {}, rustc, "sha")
    return instructions.Measured(binary, counts)


def ins_reference(
    counts: dict[str, int], jobs: dict[str, Any] | None = None
) -> InstructionReference:
    return InstructionReference.model_validate(
        {
            "format_version": 1,
            "what": "instructions of the test's jobs",
            "made_by": instructions.UPDATE_COMMAND,
            "made_utc": "2026-01-01T00:00:00Z",
            "git_commit": None,
            "git_dirty": None,
            "machine": {"cpu_model": "cpu", "valgrind": "valgrind-3.19.0"},
            "rustflags": instructions.CALLGRIND_RUSTFLAGS,
            "jobs": instructions.job_table() if jobs is None else jobs,
            "impls": {
                "rust-x": {
                    "rustc": "rustc 1.95.0 (abc 2026-04-14)",
                    "versions": {},
                    "cargo_lock_sha256": "sha",
                    "instructions": counts,
                }
            },
        }
    )


def test_instruction_counts_within_tolerance_pass_and_beyond_trip() -> None:
    ref = ins_reference({"sample": 1_000_000, "step": 2_000_000})
    rows, tripped, notes = instructions.evaluate(
        ref, [measured({"sample": [1_000_000, 1_000_000], "step": [2_030_000]})], 0.02
    )
    assert [r.verdict for r in rows] == ["ok", "ok"] and not tripped and not notes
    rows, tripped, notes = instructions.evaluate(
        ref, [measured({"sample": [1_050_000], "step": [1_900_000]})], 0.02
    )
    assert [r.verdict for r in rows] == ["more", "fewer"]
    assert tripped == [
        "TRIPPED: rust-x sample: 1,050,000 instructions, reference 1,000,000 "
        "(+5.00%, over the tolerance of 2%)"
    ]
    assert "5.00% fewer" in notes[0]
    table = instructions.render(rows, tripped, notes, 0.02)
    assert "| rust-x | sample | 1,000,000" in table and "TRIPPED (1)" in table


def test_instruction_gate_refuses_another_rustc_and_other_jobs() -> None:
    ref = ins_reference({"sample": 1})
    with pytest.raises(HarnessError, match=r"made by `rustc 1.95.0 .*`rustc 1.96.0"):
        instructions.evaluate(ref, [measured({"sample": [1]}, "rustc 1.96.0 (def)")], 0.02)
    jobs = instructions.job_table()
    jobs["sample"]["params"]["pairs"] = 5
    ref = ins_reference({"sample": 1}, jobs)
    with pytest.raises(HarnessError, match="jobs differ"):
        instructions.evaluate(ref, [measured({"sample": [1]})], 0.02)


def test_totals_reads_the_callgrind_summary(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 123\n")
    assert instructions.totals(out) == 123
    out.write_text("events: Ir\nfn=main\n3 5\ntotals: 456\nsummary: 456\n")
    assert instructions.totals(out) == 456
    out.write_text("not callgrind\n")
    with pytest.raises(HarnessError, match="no totals line"):
        instructions.totals(out)
    assert instructions.parse_tolerance("3%") == pytest.approx(0.03)
    with pytest.raises(HarnessError, match="percentage"):
        instructions.parse_tolerance("lots")
