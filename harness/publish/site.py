"""`site/index.html`: one static page, no server, no external assets.

The README's headline table (the newest answer run), the answer by CPU (one table per
implementation, a column per machine) and, per machine, each headline ratio over its archived
answer runs in time order (asv's history view): one small plot per row, a line per
implementation, the runs labelled by commit. Plots are inline base64 PNGs (matplotlib, as the
run reports draw them: harness/report/plots.py).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from harness.archive.record import Record
from harness.publish.answer import (
    Answer,
    RowKey,
    answer_of,
    answer_runs,
    newest,
    newest_per_machine,
)
from harness.publish.texts import Table, by_cpu_tables, headline_table, legend, provenance, verdicts
from harness.report.plots import png

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}code{font-size:.95em}
.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}"""


def html_table(table: Table, name: str) -> str:
    header, rows = table
    head = "".join(f"<th>{_md(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_md(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _md(text: str) -> str:
    """Inline markdown of the generated cells: `code` spans only."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def history_plot(key: RowKey, runs: Sequence[Answer]) -> str:
    """One row's ratio over the runs of a machine, a line per implementation: a base64 PNG."""
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    impls = list(dict.fromkeys(i for a in runs for i in a.rows.get(key, {})))
    for impl in impls:
        xs, ys = [], []
        for x, a in enumerate(runs):
            cell = a.rows.get(key, {}).get(impl)
            if cell is not None:
                xs.append(x)
                ys.append(cell.ratio)
        ax.plot(xs, ys, marker="o", label=impl)
    ax.axhline(1.0, color="#888", linewidth=0.8, linestyle="--")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels([(a.record.git_commit or "?")[:7] for a in runs], fontsize=7)
    ax.set_title(key.label.replace("`", ""), fontsize=9)
    ax.set_ylabel("ratio to python-torch", fontsize=8)
    ax.legend(fontsize=6)
    return base64.b64encode(png(fig)).decode("ascii")


def history(machine_id: str, records: Sequence[Record]) -> str:
    runs = [answer_of(r) for r in answer_runs(records) if r.machine.machine_id == machine_id]
    keys = sorted({k for a in runs for k in a.rows})
    figures = []
    for key in keys:
        alt = html.escape(f"{key.label.replace('`', '')}: ratio to python-torch over the runs")
        data = history_plot(key, runs)
        figures.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>')
    listed = "".join(f"<li>{_md(provenance(a.record, commands=False))}</li>" for a in runs)
    return (
        f'<h3 id="history-{html.escape(machine_id)}"><code>{html.escape(machine_id)}</code></h3>'
        f'<ul>{listed}</ul><div class="plots">{"".join(figures)}</div>'
    )


def site_html(records: Sequence[Record]) -> str:
    """The page: the headline, its verdicts, the answer by CPU and each machine's history."""
    record = newest(records)
    if record is None:
        raise ValueError("site_html needs an archived answer run")
    answer = answer_of(record)
    machines = newest_per_machine(records)
    parts = [
        "<h1>oneshot-bench: the answer</h1>",
        "<h2>The headline</h2>",
        html_table(headline_table(answer), "headline"),
        f"<p>{_md(legend())}</p><p>{_md(provenance(record))}</p>",
        "<ul>" + "".join(f"<li>{_md(s)}</li>" for s in verdicts(answer)) + "</ul>",
        "<h2>The answer by CPU</h2>",
        "<ul>"
        + "".join(f"<li>{_md(provenance(r, commands=False))}</li>" for r in machines.values())
        + "</ul>",
    ]
    for impl, table in by_cpu_tables(machines).items():
        parts += [f"<h3>{html.escape(impl)}</h3>", html_table(table, f"by-cpu-{impl}")]
    parts.append("<h2>History: each ratio over the archived commits, per machine</h2>")
    parts += [history(mid, records) for mid in machines]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>oneshot-bench: the answer</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
