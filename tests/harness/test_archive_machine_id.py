"""The archive's machine id from /proc/cpuinfo's facts as results.json records them."""

from __future__ import annotations

import pytest

from harness.analysis.machine import cpu_ids
from harness.archive.machine_id import machine_id, uarch_of_ids, uarch_of_name
from harness.results import Machine


def cpuinfo(vendor: str, family: int, model: int, name: str) -> str:
    """The first two processors' blocks of a /proc/cpuinfo (the second must not be read)."""
    first = (
        f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
        f"model name\t: {name}\nstepping\t: 1\nflags\t\t: fpu sse2 avx2\n"
    )
    return f"{first}\nprocessor\t: 1\nvendor_id\t: Other\ncpu family\t: 99\nmodel\t\t: 99\n"


AMD, INTEL = "AuthenticAMD", "GenuineIntel"
AVX2 = ["avx", "avx2", "fma"]
AVX512 = [*AVX2, "avx512f", "avx512bw", "avx512vl"]

TABLE = [  # vendor_id, family, model, model name, flags, logical cores -> machine id
    (AMD, 25, 0x01, "AMD EPYC 7B13 64-Core Processor", AVX2, 2, "amd-zen3-avx2-2c"),
    (AMD, 25, 17, "AMD EPYC 9B14", [*AVX512, "avx512_bf16"], 2, "amd-zen4-avx512-2c"),
    (AMD, 25, 0x21, "AMD Ryzen 9 5950X 16-Core", AVX2, 32, "amd-zen3-avx2-32c"),
    (AMD, 25, 0x61, "AMD Ryzen 9 7950X", AVX512, 32, "amd-zen4-avx512-32c"),
    (AMD, 26, 0x02, "AMD EPYC 9B45", AVX512, 4, "amd-zen5-avx512-4c"),
    (AMD, 23, 0x31, "AMD EPYC 7B12", AVX2, 2, "amd-zen2-avx2-2c"),
    (
        "GenuineIntel",
        6,
        0x8F,
        "Xeon(R) Platinum 8481C CPU @ 2.70GHz",
        [*AVX512, "amx_tile"],
        2,
        "intel-sapphirerapids-avx512-amx-2c",
    ),
    (INTEL, 6, 0xCF, "INTEL(R) XEON(R) PLATINUM 8581C", AVX512, 8, "intel-emeraldrapids-avx512-8c"),
    (INTEL, 6, 0x6A, "Xeon(R) Platinum 8375C", AVX512, 2, "intel-icelake-avx512-2c"),
    (INTEL, 6, 0x55, "Xeon(R) Gold 6268CL CPU", AVX512, 2, "intel-cascadelake-avx512-2c"),
    (INTEL, 6, 0x55, "Xeon(R) Platinum 8380HL", AVX512, 2, "intel-cooperlake-avx512-2c"),
    (INTEL, 6, 0x55, "Xeon(R) CPU @ 2.00GHz", AVX512, 2, "intel-skylakesp-avx512-2c"),
    (INTEL, 6, 0x4F, "Xeon(R) CPU E5-2690 v4", AVX2, 2, "intel-broadwell-avx2-2c"),
    (INTEL, 6, 0xAD, "Xeon(R) 6985P-C", [*AVX512, "amx_tile"], 2,
     "intel-graniterapids-avx512-amx-2c"),
    (INTEL, 6, 200, "Intel(R) Future", AVX512, 2, "intel-f6m200-avx512-2c"),
    (INTEL, 19, 1, "Xeon(R) Next", AVX512, 2, "intel-f19m1-avx512-2c"),
    (AMD, 27, 0, "AMD EPYC Next", AVX512, 2, "amd-f27m0-avx512-2c"),
    (AMD, 25, 0x01, "AMD EPYC", ["fma"], 2, "amd-zen3-sse-2c"),
]  # fmt: skip


@pytest.mark.parametrize(("vendor", "family", "model", "name", "flags", "cores", "expected"), TABLE)
def test_the_machine_id_of_a_cpuinfo(
    vendor: str, family: int, model: int, name: str, flags: list[str], cores: int, expected: str
) -> None:
    ids = cpu_ids(cpuinfo(vendor, family, model, name))
    assert ids == {"cpu_vendor": vendor, "cpu_family": family, "cpu_model_number": model}
    machine = Machine(cpu_model=name, cpu_flags=flags, logical_cores=cores, **ids)
    assert machine_id(machine) == expected


@pytest.mark.parametrize(
    ("name", "flags", "expected"),
    [
        ("AMD EPYC 7B13 64-Core Processor", AVX2, "amd-zen3-avx2-2c"),
        ("AMD EPYC 9554 64-Core Processor", AVX512, "amd-zen4-avx512-2c"),
        ("Xeon(R) Platinum 8481C CPU @ 2.70GHz", [*AVX512, "amx_tile"],
         "intel-sapphirerapids-avx512-amx-2c"),
        ("AMD EPYC", AVX512, "amd-unknown-avx512-2c"),
        ("Neoverse-V2", [], "unknown-unknown-sse-2c"),
    ],
)  # fmt: skip
def test_an_older_run_without_family_and_model_is_named_from_its_cpu_model(
    name: str, flags: list[str], expected: str
) -> None:
    assert machine_id(Machine(cpu_model=name, cpu_flags=flags, logical_cores=2)) == expected


def test_what_a_run_does_not_record_is_unknown() -> None:
    assert machine_id(Machine()) == "unknown-unknown-unknown-unknown"
    assert cpu_ids("processor\t: 0\nCPU implementer\t: 0x41\n") == {
        "cpu_vendor": None,
        "cpu_family": None,
        "cpu_model_number": None,
    }


def test_the_tables_name_only_known_models() -> None:
    assert uarch_of_ids("amd", 25, 0x11) == "zen4"  # Genoa: model 17 decimal is 0x11
    assert uarch_of_ids("intel", 6, 0x8F) == "sapphirerapids"
    assert uarch_of_ids("other", 6, 0x8F) == "f6m143"
    assert uarch_of_name("Intel(R) Core(TM) i7-8700") == "unknown"
