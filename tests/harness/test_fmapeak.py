"""The physical fp32 FMA peak: variant choice, clock arithmetic, the real probe, its failures,
post-run recording and the report's rendering with and without it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import fmapeak, roofline
from harness.errors import HarnessError
from harness.export.pytest_benchmark import machine_info
from harness.process.native import find_compiler
from harness.report import tables
from harness.results import parse
from harness.run import postrun
from harness.run.config import from_dict
from tests.harness.fakerun import complete_results, quiet, tiny_dataset

SKYLAKE_X = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz
cpu MHz\t\t: 2499.998
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw
processor\t: 1
cpu MHz\t\t: 3100.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw
"""
HASWELL = "cpu MHz\t\t: 2300.000\nflags\t\t: fpu sse avx fma avx2\n"
SANDY_BRIDGE = "flags\t\t: fpu sse avx\n"


def test_variants_follow_the_cpuinfo_flags() -> None:
    assert fmapeak.select_variants(SKYLAKE_X) == (["avx512", "avx2"], {})
    assert fmapeak.select_variants(HASWELL) == (
        ["avx2"],
        {"avx512": "no avx512f in /proc/cpuinfo flags"},
    )
    assert fmapeak.select_variants(SANDY_BRIDGE) == (
        [],
        {
            "avx512": "no avx512f in /proc/cpuinfo flags",
            "avx2": "no avx2 and fma in /proc/cpuinfo flags",
        },
    )
    assert fmapeak.select_variants("")[0] == []  # no /proc/cpuinfo at all


def test_no_runnable_variant_is_one_line_before_any_compile(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"^fma peak: no FMA variant runs on this CPU \(avx512"):
        fmapeak.measure_fma_peak(1, cpuinfo=SANDY_BRIDGE, cache=tmp_path)
    assert not any(tmp_path.iterdir())


def test_clock_is_the_largest_cpu_mhz_line_and_flops_per_cycle_follow() -> None:
    assert fmapeak.cpu_mhz(SKYLAKE_X) == 3100.0
    assert fmapeak.cpu_mhz(SANDY_BRIDGE) is None
    assert fmapeak.cpu_mhz("cpu MHz\t: unknown\n") is None
    # two 512-bit FMA pipes: 2 x 16 lanes x 2 flops = 64 flops/cycle; 2 cores at 2.5 GHz
    assert fmapeak.flops_per_cycle(320.0, 2, 2500.0) == pytest.approx(64.0)
    assert fmapeak.flops_per_cycle(73.6, 1, 2300.0) == pytest.approx(32.0)
    assert fmapeak.flops_per_cycle(100.0, 2, None) is None
    assert fmapeak.flops_per_cycle(100.0, 0, 2500.0) is None


def test_cache_folder_respects_xdg_and_is_keyed_by_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fmapeak.cache_dir() == tmp_path / "oneshot-bench" / "fma-peak"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert fmapeak.cache_dir() == Path.home() / ".cache" / "oneshot-bench" / "fma-peak"
    key = fmapeak.source_key()
    assert len(key) == 16 and key == fmapeak.source_key()
    monkeypatch.setattr(fmapeak, "SOURCE", fmapeak.SOURCE + "\n")
    assert fmapeak.source_key() != key


def test_real_probe_compiles_runs_and_reports_every_variant(tmp_path: Path) -> None:
    cpuinfo = fmapeak.read_cpuinfo()
    variants, skipped = fmapeak.select_variants(cpuinfo)
    if not variants:
        pytest.skip("this CPU has neither avx512f nor avx2 and fma")
    record = fmapeak.measure_fma_peak(
        1, duration_s=0.02, warmup_s=0.01, repeats=2, cpuinfo=cpuinfo, cache=tmp_path
    )
    assert set(record) == {
        "fma_peak_gflops", "best", "threads", "duration_s", "warmup_s", "repeats", "cpu_mhz",
        "flops_per_cycle_per_core", "variants", "skipped", "binary",
    }  # fmt: skip
    assert list(record["variants"]) == variants and record["skipped"] == skipped
    assert record["fma_peak_gflops"] == max(v["gflops"] for v in record["variants"].values()) > 0
    assert record["variants"][record["best"]]["gflops"] == record["fma_peak_gflops"]
    for v in record["variants"].values():
        assert v["threads"] == 1 and v["seconds"] > 0 and len(v["repeat_gflops"]) == 2
        assert v["checksum"] != 0  # the chains' sum is printed: the loop cannot be dropped
    if record["cpu_mhz"]:
        assert record["flops_per_cycle_per_core"] == pytest.approx(
            record["fma_peak_gflops"] / (record["cpu_mhz"] / 1000), rel=0.01
        )
    binary = Path(record["binary"])
    assert binary.parent == tmp_path / fmapeak.source_key() and os.access(binary, os.X_OK)
    # the binary itself: one JSON object per variant, two threads at once
    raw = fmapeak.run_variant(
        binary, variants[-1], 2, duration_s=0.02, warmup_s=0.01, repeats=1, timeout_s=30
    )
    assert raw["variant"] == variants[-1] and raw["threads"] == 2 and raw["gflops"] > 0
    assert {"chains", "lanes", "flops", "repeat_gflops", "seconds", "checksum"} <= set(raw)
    assert raw["chains"] == 16


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_without_a_compiler_the_probe_fails_in_one_line(tmp_path: Path) -> None:
    no_cc = r"^fma peak: no C compiler \(cc, gcc or clang\) on PATH to build the probe$"
    with pytest.raises(HarnessError, match=no_cc):
        fmapeak.measure_fma_peak(1, cpuinfo=HASWELL, cache=tmp_path, path=str(tmp_path))


def test_a_failed_compile_names_the_compiler_and_its_error(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "cc", "#!/bin/sh\necho 'x.c:1: note: first' >&2\n")
    executable(bin_dir / "gcc", "#!/bin/sh\necho 'x.c:3: error: no intrinsics' >&2\nexit 1\n")
    with pytest.raises(HarnessError, match=r"/cc failed to compile the probe: x.c:1: note"):
        fmapeak.compile_probe(tmp_path / "cache", str(bin_dir))  # exit 0 but no binary
    (bin_dir / "cc").unlink()
    with pytest.raises(HarnessError, match=r"/gcc failed to compile the probe: x.c:3: error: no"):
        fmapeak.compile_probe(tmp_path / "cache", str(bin_dir))
    assert [p.name for p in (tmp_path / "cache" / fmapeak.source_key()).iterdir()] == []


def test_a_crashed_or_refusing_probe_is_one_line(tmp_path: Path) -> None:
    crash = executable(tmp_path / "crash", "#!/bin/sh\necho dying >&2\nkill -SEGV $$\n")
    with pytest.raises(HarnessError, match=r"the avx2 probe failed \(signal 11\): dying"):
        fmapeak.run_variant(crash, "avx2", 1, duration_s=0.1, warmup_s=0.1, repeats=1, timeout_s=9)
    chatty = executable(tmp_path / "chatty", "#!/bin/sh\necho hello\n")
    with pytest.raises(HarnessError, match=r"the avx2 probe printed no JSON"):
        fmapeak.run_variant(chatty, "avx2", 1, duration_s=0.1, warmup_s=0.1, repeats=1, timeout_s=9)
    slow = executable(tmp_path / "slow", "#!/bin/sh\nexec sleep 5\n")
    with pytest.raises(HarnessError, match=r"the avx512 probe took over 0 s"):
        fmapeak.run_variant(
            slow, "avx512", 1, duration_s=0.1, warmup_s=0.1, repeats=1, timeout_s=0.2
        )


def test_the_real_binary_refuses_bad_arguments(tmp_path: Path) -> None:
    if shutil_which_cc() is None:
        pytest.skip("no C compiler")
    binary = fmapeak.compile_probe(tmp_path)
    with pytest.raises(HarnessError, match=r"failed \(exit 2\): bad arguments: threads 1\.\.4096"):
        fmapeak.run_variant(binary, "avx2", 0, duration_s=0.1, warmup_s=0.1, repeats=1, timeout_s=9)


def shutil_which_cc() -> str | None:
    try:
        return find_compiler()
    except HarnessError:
        return None


# --- post-run: recorded beside the SGEMM peak, never fatal -----------------------------------


def config(tmp_path: Path, threads: int = 1) -> Any:
    raw = {"name": "x", "threads": threads, "dataset": {"root": str(tiny_dataset(tmp_path))}}
    raw |= {"tasks": [{"sample": {"pairs": 10}}], "roofline": {"measure": "always"}}
    return from_dict(raw)


def step_doc() -> dict[str, Any]:
    run = {"repeat": 0, "ok": True, "warmup": False, "wall_s": 1.0, "metrics": {"gflop_per_s": 30}}
    return {
        "machine": {},
        "measurements": [{"task": "step", "task_index": 0, "impl": "py", "runs": [run]}],
    }


def fake_sgemm(threads: int, **_: Any) -> dict[str, Any]:
    return {"sgemm_gflops": 100.0, "threads": threads}


def test_a_failed_fma_probe_is_recorded_and_the_roofline_still_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roofline, "measure_peak", fake_sgemm)
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, no gcc
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached binary either
    doc = complete_results(step_doc())
    machine, roof = postrun.measure_roofline(doc, config(tmp_path), quiet())
    assert roof.measured is True and machine.sgemm_gflops == 100.0
    assert machine.fma_peak_gflops is None
    assert machine.fma_peak is not None and machine.fma_peak.fma_peak_gflops is None
    assert (machine.fma_peak.reason or "").startswith("fma peak: no C compiler")
    (row,) = roof.tasks
    assert row.share_of_peak == pytest.approx(0.3) and row.share_of_fma_peak is None
    keys = list(row.dump())
    assert keys[keys.index("share_of_peak") + 1] == "share_of_fma_peak"


def test_the_fma_peak_is_measured_with_the_runs_threads_even_when_sgemm_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    why = "roofline: the SGEMM probe failed (exit 1): no numpy"

    def failing_sgemm(threads: int, **_: Any) -> dict[str, Any]:
        raise HarnessError(why)

    def fake_fma(threads: int) -> dict[str, Any]:
        seen.append(threads)
        return {"fma_peak_gflops": 400.0, "best": "avx512", "threads": threads}

    monkeypatch.setattr(roofline, "measure_peak", failing_sgemm)
    monkeypatch.setattr(fmapeak, "measure_fma_peak", fake_fma)
    doc = complete_results(step_doc())
    machine, roof = postrun.measure_roofline(doc, config(tmp_path, threads=2), quiet())
    assert seen == [2] and roof.dump() == {"measured": False, "reason": why, "tasks": []}
    assert machine.sgemm_gflops is None and machine.fma_peak_gflops == 400.0
    monkeypatch.setattr(roofline, "measure_peak", fake_sgemm)
    machine, roof = postrun.measure_roofline(doc, config(tmp_path, threads=2), quiet())
    (row,) = roof.tasks
    assert row.share_of_fma_peak == pytest.approx(30 / 400)
    assert machine.fma_peak is not None and machine.fma_peak.threads == 2


def test_not_wanted_means_neither_peak(tmp_path: Path) -> None:
    raw = {"name": "x", "dataset": {"root": str(tiny_dataset(tmp_path))}}
    cfg = from_dict(raw | {"tasks": [{"sample": {"pairs": 10}}]})
    machine, roof = postrun.measure_roofline(complete_results(step_doc()), cfg, quiet())
    assert roof.measured is False
    assert machine.dump() == {"sgemm_gflops": None, "fma_peak_gflops": None}


# --- the report -------------------------------------------------------------------------------


def results_doc(machine: dict[str, Any], roof: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": 1, "protocol": 1, "name": "r", "status": "finished",
        "started_utc": "2026-01-01T00:00:00Z", "finished_utc": "2026-01-01T00:01:00Z",
        "machine": {"cpu_model": "AMD EPYC", "sgemm_gflops": 200.0,
                    "sgemm": {"numpy_gflops": 150.0, "torch_gflops": 200.0, "size": 1024,
                              "threads": 2}, **machine},
        "config": {}, "dataset": {"source": "synthetic", "root": "/d", "sha256": "ab"},
        "implementations": {}, "builds": [], "measurements": [], "checks": [],
        "roofline": roof,
    }  # fmt: skip


ROW = {"task": "step", "task_index": 0, "impl": "py", "gflop_per_s": 50.0, "runs": 3}
FMA = {
    "fma_peak_gflops": 475.0, "best": "avx512", "threads": 2, "cpu_mhz": 2596.12,
    "flops_per_cycle_per_core": 91.48,
    "variants": {"avx512": {"gflops": 475.0}, "avx2": {"gflops": 233.0}}, "skipped": {},
}  # fmt: skip


def test_report_shows_both_peaks_and_both_shares() -> None:
    row = ROW | {"share_of_peak": 0.25, "share_of_fma_peak": 50 / 475}
    doc = results_doc({"fma_peak_gflops": 475.0, "fma_peak": FMA},
                      {"measured": True, "reason": None, "tasks": [row]})  # fmt: skip
    table = tables.roofline(parse(doc))
    assert table.headers[-2:] == ["share of peak", "share of FMA peak"]
    assert table.rows == [["0: step", "py", "50", "25.0%", "10.5%"]]
    assert table.note.startswith("Peak: SGEMM 200 GFLOP/s")
    assert (
        "FMA peak (fp32, physical): 475 GFLOP/s (avx512 FMA chains, 2 threads, 2.6 GHz reported, "
        "91.5 flops/cycle/core at that clock; avx512 475, avx2 233)." in table.note
    )
    facts = dict(tuple(r) for r in tables.machine(parse(doc)).rows)
    assert facts["FMA peak"] == "475 GFLOP/s (avx512, 2 threads)"
    md = "\n".join(t.note for t in tables.all_tables(parse(doc)))
    assert "FMA peak (fp32, physical)" in md
    info = machine_info(parse(doc))
    assert info["sgemm_gflops"] == 200.0 and info["fma_peak_gflops"] == 475.0


def test_report_names_a_skipped_variant_and_a_failed_probe() -> None:
    fma = FMA | {"variants": {"avx2": {"gflops": 233.0}}, "best": "avx2", "fma_peak_gflops": 233.0}
    fma |= {"skipped": {"avx512": "no avx512f in /proc/cpuinfo flags"}, "cpu_mhz": None,
            "flops_per_cycle_per_core": None}  # fmt: skip
    roof = {"measured": True, "reason": None, "tasks": []}
    note = tables.roofline(parse(results_doc({"fma_peak_gflops": 233.0, "fma_peak": fma}, roof)))
    assert "(avx2 FMA chains, 2 threads, clock not reported; avx2 233, avx512 skipped: no" in (
        note.note
    )
    reason = "fma peak: no C compiler (cc, gcc or clang) on PATH"
    failed = {"fma_peak_gflops": None, "reason": reason}
    doc = parse(results_doc({"fma_peak_gflops": None, "fma_peak": failed}, roof))
    assert "FMA peak not measured: fma peak: no C compiler" in tables.roofline(doc).note
    assert dict(tuple(r) for r in tables.machine(doc).rows)["FMA peak"] == "not measured"
    skipped = {"measured": False, "reason": "no compute task in this run", "tasks": []}
    doc = parse(results_doc({"sgemm_gflops": None, "fma_peak_gflops": None}, skipped))
    assert tables.roofline(doc).note == (
        "SGEMM peak not measured: no compute task in this run. "
        "FMA peak not measured: no compute task in this run."
    )


def test_report_of_a_run_recorded_before_the_fma_probe() -> None:
    row = ROW | {"share_of_peak": 0.25}  # no share_of_fma_peak: an older results.json
    doc = parse(results_doc({}, {"measured": True, "reason": None, "tasks": [row]}))
    assert doc.machine.fma_peak_gflops is None and doc.machine.fma_peak is None
    assert "fma_peak_gflops" not in doc.dump()["machine"]  # round-trips without the new keys
    table = tables.roofline(doc)
    assert table.rows == [["0: step", "py", "50", "25.0%", ""]]
    assert table.note.endswith("FMA peak not recorded (the run predates the FMA probe).")
    assert dict(tuple(r) for r in tables.machine(doc).rows)["FMA peak"] == "not measured"
    assert machine_info(doc)["fma_peak_gflops"] is None
    old = results_doc({}, {"measured": True, "reason": None, "tasks": [row]})
    del old["roofline"]
    assert "FMA" not in tables.roofline(parse(old)).note
    assert json.loads(json.dumps(parse(old).dump())) == old
