"""The machine id: a stable, readable name of a run's CPU, the archive's folder for its records.

`<vendor>-<microarchitecture>-<isa>[-amx]-<logical cores>c`, e.g. `amd-zen4-avx512-2c`,
`amd-zen3-avx2-2c`, `intel-sapphirerapids-avx512-amx-2c`, made only of what results.json's
`machine` records:
- vendor: `cpu_vendor` (AuthenticAMD -> amd, GenuineIntel -> intel), else the vendor named in
  `cpu_model`, else `unknown`;
- microarchitecture: from vendor, `cpu_family` and `cpu_model_number` (the tables below); a
  family and model not in them is `f<family>m<model>` (decimal, as /proc/cpuinfo prints them).
  A run recorded before the family and model were (older format-1 documents) is named from
  `cpu_model` (`AMD EPYC 7B13` -> zen3, `Xeon Platinum 8481C` -> sapphirerapids), else `unknown`;
- ISA level: `avx512` with avx512f, `avx2` with avx2, else `sse` (`unknown` without flags);
  `amx` follows with amx_tile;
- the logical core count, `<n>c`.
"""

from __future__ import annotations

import re

from harness.result_sections import Machine

VENDORS = {"authenticamd": "amd", "genuineintel": "intel", "hygongenuine": "hygon"}

# AMD: family -> [(first model, last model, name)], models inclusive.
AMD_MODELS: dict[int, list[tuple[int, int, str]]] = {
    23: [(0x00, 0x2F, "zen"), (0x30, 0xAF, "zen2")],  # 0x17: zen/zen+ (Naples) and zen2 (Rome)
    25: [  # 0x19
        (0x00, 0x0F, "zen3"),  # Milan 0x01, Chagall 0x08
        (0x10, 0x1F, "zen4"),  # Genoa 0x11 (17 decimal), Storm Peak 0x18
        (0x20, 0x5F, "zen3"),  # Vermeer 0x21, Rembrandt 0x44, Cezanne 0x50
        (0x60, 0xAF, "zen4"),  # Raphael 0x61, Phoenix 0x74/0x78, Bergamo/Siena 0xA0
    ],
    26: [(0x00, 0xFF, "zen5")],  # 0x1A: Turin, Granite Ridge, Strix Point
}

# Intel family 6: model -> name.
INTEL_MODELS: dict[int, str] = {
    0x2A: "sandybridge",
    0x2D: "sandybridge",
    0x3A: "ivybridge",
    0x3E: "ivybridge",
    0x3C: "haswell",
    0x3F: "haswell",
    0x45: "haswell",
    0x46: "haswell",
    0x3D: "broadwell",
    0x47: "broadwell",
    0x4F: "broadwell",
    0x56: "broadwell",
    0x4E: "skylake",
    0x5E: "skylake",
    0x55: "skylakesp",  # Skylake-SP, Cascade Lake and Cooper Lake share 0x55: see _refine
    0x8E: "kabylake",
    0x9E: "kabylake",
    0xA5: "cometlake",
    0xA6: "cometlake",
    0x6A: "icelake",
    0x6C: "icelake",
    0x7D: "icelake",
    0x7E: "icelake",
    0x8C: "tigerlake",
    0x8D: "tigerlake",
    0x97: "alderlake",
    0x9A: "alderlake",
    0xB7: "raptorlake",
    0xBA: "raptorlake",
    0xBF: "raptorlake",
    0xAA: "meteorlake",
    0xAC: "meteorlake",
    0x8F: "sapphirerapids",
    0xCF: "emeraldrapids",
    0xAD: "graniterapids",
    0xAE: "graniterapids",
    0xAF: "sierraforest",
}

# A Xeon Scalable's model number names its generation: its second digit (8481C -> 4).
XEON_GENERATIONS = {
    "1": "skylakesp",
    "2": "cascadelake",
    "3": "icelake",
    "4": "sapphirerapids",
    "5": "emeraldrapids",
}
# An EPYC's model number names its generation: its last digit (7B13 -> 3, 9554 -> 4).
EPYC_GENERATIONS = {"1": "zen", "2": "zen2", "3": "zen3", "4": "zen4", "5": "zen5"}


def vendor_of(machine: Machine) -> str:
    if machine.cpu_vendor:
        name = machine.cpu_vendor.strip().lower()
        return VENDORS.get(name, _token(name) or "unknown")
    model = (machine.cpu_model or "").lower()
    if "amd" in model or "epyc" in model or "ryzen" in model:
        return "amd"
    if "intel" in model or "xeon" in model:
        return "intel"
    return "unknown"


def uarch_of_ids(vendor: str, family: int, model: int) -> str:
    """The microarchitecture of a vendor's family and model, else `f<family>m<model>`."""
    if vendor == "amd":
        for first, last, name in AMD_MODELS.get(family, []):
            if first <= model <= last:
                return name
    elif vendor == "intel" and family == 6 and model in INTEL_MODELS:
        return INTEL_MODELS[model]
    return f"f{family}m{model}"


def uarch_of_name(cpu_model: str | None) -> str:
    """The microarchitecture a CPU's model name says (EPYC and Xeon Scalable), else unknown."""
    text = cpu_model or ""
    if m := re.search(r"EPYC\s+\w?\d\w\w(\d)\b", text):
        return EPYC_GENERATIONS.get(m.group(1), "unknown")
    if m := re.search(r"Xeon.*?(?:Platinum|Gold|Silver|Bronze)\s+\d(\d)\d\d(H?)", text):
        if m.group(1) == "3" and m.group(2):
            return "cooperlake"  # 83xxH, 53xxH: Cooper Lake, not Ice Lake
        return XEON_GENERATIONS.get(m.group(1), "unknown")
    return "unknown"


def _refine(uarch: str, machine: Machine) -> str:
    """Intel's model 0x55 is three generations: the model name tells them apart."""
    named = uarch_of_name(machine.cpu_model)
    if uarch == "skylakesp" and named in ("cascadelake", "cooperlake"):
        return named
    return uarch


def uarch_of(machine: Machine, vendor: str) -> str:
    family, model = machine.cpu_family, machine.cpu_model_number
    if family is None or model is None:
        return uarch_of_name(machine.cpu_model)
    return _refine(uarch_of_ids(vendor, family, model), machine)


def isa_of(flags: list[str] | None) -> str:
    if flags is None:
        return "unknown"
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    return f"{isa}-amx" if "amx_tile" in flags else isa


def machine_id(machine: Machine) -> str:
    """The machine id of a run's `machine` facts, e.g. `amd-zen4-avx512-2c`."""
    vendor = vendor_of(machine)
    cores = f"{machine.logical_cores}c" if machine.logical_cores else "unknown"
    return "-".join((vendor, uarch_of(machine, vendor), isa_of(machine.cpu_flags), cores))


def _token(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())
