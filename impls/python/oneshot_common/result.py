"""`out_dir/result.json`, written atomically (docs/schemas/result.schema.json).

The file is written to a temporary name in the same folder and renamed over the target with
`os.replace`, so a reader never sees half a result. The implementation's id (`python-torch`,
`python-jax`) and its package are parameters: `versions(package, version)` reports the
interpreter, that package and the libraries the task actually imported (torch or jax is never
imported just to name it).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

FORMAT_VERSION = 1
RESULT_FILE = "result.json"

Metric = float | int | Sequence[float]

_LIBRARIES = {
    "numpy": "numpy",
    "PIL": "pillow",
    "torch": "torch",
    "safetensors": "safetensors",
    "jax": "jax",
    "jaxlib": "jaxlib",
}


def versions(package: str, package_version: str) -> dict[str, str]:
    """Versions of Python, the implementation's package and every library of interest already
    imported."""
    from oneshot_common.allocator import applied

    found = {package: package_version, "python": platform.python_version()}
    found["malloc_keep_freed"] = "yes" if applied() else "no"
    for module_name, label in _LIBRARIES.items():
        module = sys.modules.get(module_name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            found[label] = version
    return found


def _clean_metric(name: str, value: Metric) -> float | int | list[float]:
    values = [value] if isinstance(value, int | float) else list(value)
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ValueError(f"metric {name} must be a finite number or list of them, got {item!r}")
    return value if isinstance(value, int | float) else [float(v) for v in value]


def write_result(
    out_dir: str | os.PathLike[str],
    *,
    impl: str,
    task: str,
    ok: bool,
    error: str | None,
    seed: int | None = None,
    threads: int | None = None,
    metrics: Mapping[str, Metric] | None = None,
    outputs: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
) -> Path:
    """Write `result.json` of implementation `impl` in `out_dir` atomically; return its path."""
    record: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "impl": impl,
        "task": task,
        "ok": ok,
        "error": error,
    }
    if seed is not None:
        record["seed"] = seed
    if threads is not None:
        record["threads"] = threads
    record["metrics"] = {k: _clean_metric(k, v) for k, v in (metrics or {}).items()}
    record["outputs"] = dict(outputs or {})
    record["versions"] = dict(versions or {})
    target = Path(out_dir) / RESULT_FILE
    tmp = target.with_name(f".{RESULT_FILE}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, target)
    return target
