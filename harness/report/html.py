"""report.html: one self-contained page (inline CSS, plots as base64 PNG, no scripts, no links
to fetch), so it can be archived as a CI artifact and opened anywhere. It opens with the
Verdict sentences (analysis/verdicts.py), then the tables and plots."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from harness.analysis.verdicts import sentences
from harness.report.plots import Plot, all_plots
from harness.report.serving import cdf_plots, serving_tables
from harness.report.tables import Table, all_tables
from harness.results import Results

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.ok { color: #176417; } td.fail { color: #b00020; font-weight: bold; }
p.note { color: #555; font-size: 90%; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 90%; }
img { max-width: 100%; }
"""


def table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = []
    for row in t.rows:
        cells = []
        for c in row:
            cls = ' class="ok"' if c == "ok" else (' class="fail"' if c == "FAIL" else "")
            cells.append(f"<td{cls}>{escape(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = "\n".join(body) if body else f'<tr><td colspan="{len(t.headers)}">none</td></tr>'
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (
        f'<h2 id="{escape(t.id)}">{escape(t.title)}</h2>\n'
        f'<table data-table="{escape(t.id)}"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>{rows}</tbody></table>{note}"
    )


def verdict(results: Results) -> str:
    """The page's first section: the verdict sentences (analysis/verdicts.py) as a list."""
    items = "".join(f"<li>{escape(line)}</li>" for line in sentences(results))
    return f'<h2 id="verdict">Verdict</h2>\n<ul data-section="verdict">{items}</ul>'


def figure(p: Plot) -> str:
    data = base64.b64encode(p.png).decode("ascii")
    return (
        f'<figure><img data-plot="{escape(p.title)}" alt="{escape(p.alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(p.alt)}</figcaption></figure>'
    )


def render(results: Results, run_dir: Path) -> str:
    if results.sweep is not None:
        return render_sweep(results, run_dir)
    tables = all_tables(results, serving_tables(results))
    plots = all_plots(results, run_dir, cdf_plots(results, run_dir))
    name = escape(results.name)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>oneshot-bench run {name}</title><style>{STYLE}</style></head><body>",
        f"<h1>Run <code>{name}</code></h1>",
        verdict(results),
        f'<p class="note">Folder {escape(str(run_dir))}; started '
        f"{escape(results.started_utc)} UTC; "
        f"device {escape(results.device)}.</p>",
    ]
    tp = next(p for p in tables if p.id == "throughput")
    parts.append(table(tp))
    parts += [figure(p) for p in plots if p.title == "Throughput"]
    for t in tables:
        if t.id != "throughput":
            parts.append(table(t))
    if any(p.title.startswith("Accuracy") for p in plots):
        parts.append("<h2>Validation accuracy against wall time</h2>")
        parts += [figure(p) for p in plots if p.title.startswith("Accuracy")]
    if any(p.title.startswith("Latency") for p in plots):
        parts.append("<h2>Serving: latency CDFs</h2>")
        parts += [figure(p) for p in plots if p.title.startswith("Latency")]
    if any(p.title.startswith("Loss") for p in plots):
        parts.append("<h2>Loss curves</h2>")
        parts += [figure(p) for p in plots if p.title.startswith("Loss")]
    if any(p.title.startswith("Timeline") for p in plots):
        parts.append("<h2>RSS and CPU timelines</h2>")
        parts += [figure(p) for p in plots if p.title.startswith("Timeline")]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_sweep(results: Results, run_dir: Path) -> str:
    """A sweep's page: the crossover verdicts, each series' plot, the table of every point."""
    from harness.report.sweep import plots
    from harness.report.sweep import tables as sweep_tables

    tables = sweep_tables(results)
    name = escape(results.name)
    assert results.sweep is not None
    keys = ", ".join(results.sweep.keys)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>oneshot-bench sweep {name}</title><style>{STYLE}</style></head><body>",
        f"<h1>Sweep <code>{name}</code></h1>",
        verdict(results),
        f'<p class="note">Folder {escape(str(run_dir))}; started '
        f"{escape(results.started_utc)} UTC; {len(results.sweep.points)} points over "
        f"{escape(keys)}; device {escape(results.device)}.</p>",
        table(tables[0]),
    ]
    parts += [figure(p) for p in plots(results, run_dir)]
    parts += [table(t) for t in tables[1:]]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
