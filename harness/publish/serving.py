"""docs/results.md's serving answer, generated from the archive: the newest archived run that holds
`serving[]` (configs/serve.yaml, archived like the answer run), one table per sweep point, and
the serving targets as sentences, met or missed, with their figures.

- A table's rows are the implementations on the point's back-to-back task (warm page cache):
  the latency percentiles with their one-sided 99% upper bounds, p99/p50, the cold start to the
  first answer (warm page cache), the cold start from an evicted page cache (the `evict` task),
  idle CPU between Poisson arrivals (the `poisson` task), steady RSS and the ship size (the files
  mapped at the first answer). An implementation whose answers disagree with float64's is
  marked and left out of the targets.
- The targets are rust-native's: warm p50 at most `P50_TARGET` times the best of
  `P50_RIVALS`, p99/p50 at most `TAIL_TARGET`, cold start at most `COLD_TARGET` times
  python-torch's, idle CPU under `IDLE_TARGET`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from harness.archive.record import Record
from harness.result_sections import Serving

SERVING_MARKERS = ("<!-- serving:begin -->", "<!-- serving:end -->")
SERVING_FILE = "docs/results.md"  # the README points to it
SUBJECT = "rust-native"
P50_RIVALS = ("python-torch", "python-onnxruntime", "rust-ort", "rust-tract")
P50_TARGET, TAIL_TARGET, COLD_TARGET, IDLE_TARGET = 0.8, 1.3, 0.1, 0.01
CONFIG = "configs/serve.yaml"
THEN = "then `python -m harness archive RUN` and `python -m harness publish`"
PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")


def run_command(ran: dict[str, Any], shipped: dict[str, Any] | None) -> str:
    """The `harness run` command that made a record of config `ran` (the config as read, its
    `--set`s applied): the shipped config file with one `--set` for each key whose value differs
    from the file's `shipped` (nested mappings key by key, `null` for a key the run lacks).
    Without the file (None), the file's name alone."""
    sets = [] if shipped is None else _sets(ran, shipped, "")
    return " ".join(["python -m harness run", CONFIG, *(f"--set {s}" for s in sets)])


def _sets(ran: dict[str, Any], shipped: dict[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for key in sorted(set(ran) | set(shipped), key=str):
        path, now, was = f"{prefix}{key}", ran.get(key), shipped.get(key)
        if isinstance(now, dict) and isinstance(was, dict):
            out += _sets(now, was, f"{path}.")
        elif now != was:
            value = now if isinstance(now, str) else json.dumps(now, separators=(",", ":"))
            item = f"{path}={value}"
            out.append(item if PLAIN.fullmatch(value) else f"'{item}'")
    return out


def serving_record(records: Sequence[Record]) -> Record | None:
    """The newest record (by start time, then run id) that holds serving figures."""
    held = [r for r in records if r.serving]
    return max(held, key=lambda r: (r.started_utc, r.run_id)) if held else None


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _mib(value: float | None) -> str:
    return "" if value is None else f"{value / 2**20:.0f}"


def _percentile(s: Serving, q: float) -> str:
    for quantile in s.latency:
        if abs(quantile.q - q) < 1e-9:
            bound = "" if quantile.upper_s is None else f" (≤ {_ms(quantile.upper_s)})"
            return _ms(quantile.value_s) + bound
    return ""


def _point_label(record: Record, point: int | None) -> str:
    values: dict[str, Any] = {}
    if record.sweep is not None and point is not None:
        values = next((p.values for p in record.sweep.points if p.index == point), {})
    model = values.get("model", record.config.get("model", {}))
    network = model.get("preset", "custom") if isinstance(model, dict) else str(model)
    threads = values.get("threads", record.config.get("threads"))
    return f"`{network}` network, {threads} thread{'s' if threads != 1 else ''}"


def _by_point(record: Record) -> dict[int | None, dict[str, dict[str, Serving]]]:
    """point -> kind (warm, poisson, evict) -> impl -> its Serving."""
    out: dict[int | None, dict[str, dict[str, Serving]]] = {}
    for s in record.serving or []:
        kind = "evict" if s.page_cache == "evict" else s.arrival
        if kind == "back_to_back" and s.page_cache != "evict":
            kind = "warm"
        out.setdefault(s.point, {}).setdefault(kind, {}).setdefault(s.impl, s)
    return out


HEADER = [
    "implementation", "p50 ms", "p90 ms", "p99 ms", "p99/p50", "cold start ms",
    "cold, evicted ms", "idle CPU", "steady RSS MiB", "ship MiB",
]  # fmt: skip


def _row(impl: str, kinds: dict[str, dict[str, Serving]]) -> list[str]:
    warm = kinds.get("warm", {}).get(impl)
    evict = kinds.get("evict", {}).get(impl)
    poisson = kinds.get("poisson", {}).get(impl)
    name = f"`{impl}`" + (" (answers unlike float64's)" if warm and warm.agrees is False else "")
    idle = poisson.idle_cpu_fraction if poisson else None
    if warm is None:
        return [name, *([""] * (len(HEADER) - 1))]
    return [
        name,
        _percentile(warm, 0.5),
        _percentile(warm, 0.9),
        _percentile(warm, 0.99),
        "" if warm.p99_over_p50 is None else f"{warm.p99_over_p50:.2f}",
        _ms(warm.cold_start_s),
        _ms(evict.cold_start_s if evict else None),
        "" if idle is None else f"{idle:.1%}",
        _mib(warm.steady_rss_bytes),
        _mib(warm.ship_bytes),
    ]


def target_sentences(kinds: dict[str, dict[str, Serving]]) -> list[str]:
    """rust-native's four serving targets at one point, each met or missed with its figures."""
    warm = {i: s for i, s in kinds.get("warm", {}).items() if s.agrees is not False}
    subject = warm.get(SUBJECT)
    if subject is None:
        return []
    out = []
    p50 = subject.latency[0].value_s
    rivals = {i: warm[i].latency[0].value_s for i in P50_RIVALS if i in warm}
    if rivals:
        best = min(rivals, key=lambda i: rivals[i])
        ratio = p50 / rivals[best]
        verdict = "met" if ratio <= P50_TARGET else "missed"
        out.append(
            f"Warm p50: {SUBJECT} {_ms(p50)} ms is {ratio:.2f}x the best of "
            f"{', '.join(rivals)} ({best}, {_ms(rivals[best])} ms); target ≤ {P50_TARGET}x: "
            f"{verdict}."
        )
    if subject.p99_over_p50 is not None:
        verdict = "met" if subject.p99_over_p50 <= TAIL_TARGET else "missed"
        out.append(
            f"Tail: {SUBJECT}'s p99/p50 is {subject.p99_over_p50:.2f}; target ≤ {TAIL_TARGET}: "
            f"{verdict}."
        )
    torch = warm.get("python-torch")
    if torch and torch.cold_start_s and subject.cold_start_s:
        ratio = subject.cold_start_s / torch.cold_start_s
        verdict = "met" if ratio <= COLD_TARGET else "missed"
        out.append(
            f"Cold start (warm page cache): {SUBJECT} {_ms(subject.cold_start_s)} ms is "
            f"{ratio:.3f}x python-torch's {_ms(torch.cold_start_s)} ms; target ≤ {COLD_TARGET}x:"
            f" {verdict}."
        )
    poisson = kinds.get("poisson", {}).get(SUBJECT)
    if poisson and poisson.idle_cpu_fraction is not None:
        verdict = "met" if poisson.idle_cpu_fraction < IDLE_TARGET else "missed"
        out.append(
            f"Idle CPU between Poisson arrivals: {SUBJECT} {poisson.idle_cpu_fraction:.2%}; "
            f"target < {IDLE_TARGET:.0%}: {verdict}."
        )
    return out


def serving_block(record: Record, shipped: dict[str, Any] | None = None) -> str:
    """The generated serving block for `record`; `shipped` is CONFIG as the checkout
    holds it, to name the run's `--set`s (`run_command`)."""
    from harness.publish.texts import markdown_table, provenance

    lines = [
        "<!-- generated by `python -m harness publish` from the archive; do not edit -->",
        "",
    ]
    for point, kinds in _by_point(record).items():
        impls = sorted(
            kinds.get("warm", {}),
            key=lambda i: kinds["warm"][i].latency[0].value_s,
        )
        rows = [_row(i, kinds) for i in impls]
        lines += [f"**{_point_label(record, point)}**, fastest warm p50 first:", ""]
        lines += [*markdown_table((HEADER, rows)), ""]
        lines += [f"- {s}" for s in target_sentences(kinds)]
        lines += [""]
    lines += [
        "Latencies pool every measured query of every run; each is followed by its one-sided "
        "99% upper confidence bound where the query count allows (docs/reports.md, "
        '"Serving"). Idle CPU is CPU seconds per idle second between arrivals.',
        "",
        provenance(record, commands=False).removesuffix(".")
        + f"; made by `{run_command(record.config, shipped)}`, {THEN}.",
    ]
    return "\n".join(lines).rstrip() + "\n"
