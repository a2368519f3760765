"""report.html: one self-contained page (pictures embedded as data URLs) that opens offline.

Everything that comes from a run — model output above all, but also names, errors and paths —
goes through `html.escape`: a model that writes `<script>` must not script the page.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from longctx_eval.reporting.plots import Figure
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.summary import Summary
from longctx_eval.reporting.tables import (
    GAP_NOTE,
    PAIRED_NOTE,
    gap_rows,
    heading,
    paired_sections,
    paired_tables,
)

_WRONG_ANSWERS_SHOWN = 12

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
th { background: #f4f4f4; }
td.fail { color: #b00; } td.skip { color: #a60; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.8em; color: #555; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.85em; text-align: left; }
"""

# Lets a browser test (and a reader's devtools) see that every picture decoded.
_IMAGE_CHECK = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-images-loaded", String(ok));
});
"""


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            cls = classes[i][j] if classes else ""
            cells.append(f'<td class="{e(cls)}">{e(c)}</td>' if cls else f"<td>{e(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _figures(figures: list[Figure]) -> str:
    if not figures:
        return ""
    items = [
        f'<figure><img alt="{e(f.title)}" src="data:image/png;base64,{base64.b64encode(f.png).decode()}">'
        f"<figcaption>{e(f.caption or f.title)}</figcaption></figure>"
        for f in figures
    ]
    return '<div class="figures">' + "".join(items) + "</div>"


def render(summary: Summary, results: Results, figures: list[Figure], show_superseded: bool = False) -> str:
    title = summary.title
    parts = [f"<h1>{e(title)}</h1>", _meta(results)]
    tasks = summary.leaderboard_tasks
    parts += [
        "<h2>Effective context length</h2>",
        _table(
            ["model", "method", "rank", "overall", *tasks, "retention at L"],
            [
                [r.model, r.method_label, str(r.rank), r.overall.text()]
                + [r.effective[t].text() if t in r.effective else "" for t in tasks]
                + [f"{r.min_retention:.2f}" if r.min_retention is not None else ""]
                for r in summary.leaderboard
            ],
        ),
        *(f'<p class="note">{e(n)}</p>' for n in summary.notes),
    ]
    for table in summary.tables:
        rows, classes = [], []
        for row in table.rows:
            texts = [v.text if v else "" for v in row.values]
            rows.append([row.model, row.label(), *texts])
            classes.append(["", "", *(t if t in ("fail", "skip") else "" for t in texts)])
        parts += [
            f"<h2>{e(heading(table))}</h2>",
            *([f'<p class="protocol">{e(table.comparability)}</p>'] if table.comparability else []),
            _table(["model", "method", *map(str, table.lengths)], rows, classes),
            _figures([f for f in figures if f.task == table.task]),
        ]
    parts += _paired(summary)
    parts += _gaps(summary)
    parts += ["<h2>Rotary frequencies</h2>", _figures([f for f in figures if f.kind == "rope"])]
    usage = [f for f in figures if f.kind == "usage"]
    if usage:
        parts += [
            "<h2>Frequency usage</h2>",
            '<p class="note">Which rotary pairs the model uses and what each method does to them '
            '(Barbero et al. 2024, "Round and Round We Go!"), from the analysis task.</p>',
            _figures(usage),
        ]
    parts += _problems(results)
    if show_superseded:
        parts += _superseded(results)
    body = "\n".join(p for p in parts if p)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n<script>{_IMAGE_CHECK}</script>\n</body></html>\n"
    )


def _paired(summary: Summary) -> list[str]:
    parts = []
    for heading_text, diffs in paired_sections(summary):
        parts += [f"<h2>{e(heading_text)}</h2>", f'<p class="note">{e(PAIRED_NOTE)}</p>']
        for task, lengths, rows in paired_tables(diffs, summary.tasks):
            parts += [f"<h3>{e(task)}</h3>", _table(["model", "method", *map(str, lengths)], rows)]
    return parts


def _gaps(summary: Summary) -> list[str]:
    if not summary.scoring_gaps:
        return []
    lengths, rows = gap_rows(summary)
    return [
        "<h2>Lenient minus strict</h2>",
        f'<p class="note">{e(GAP_NOTE)}</p>',
        _table(
            ["model", "task", "method", *map(str, lengths)],
            [[m, t, label, *(cells.get(n, "") for n in lengths)] for (m, t, label), cells in rows.items()],
        ),
    ]


def _meta(results: Results) -> str:
    lines = []
    for m in results.manifests:
        versions = m.get("versions") or {}
        shown = ", ".join(
            f"{k} {v}" for k, v in versions.items() if k in ("longctx-eval", "torch", "transformers", "vllm")
        )
        models = ", ".join(f"{x.get('name')} ({x.get('path')})" for x in m.get("models", []))
        lines.append(f"sweep {m.get('sweep')}: {models}; {shown}; git {m.get('git_sha') or 'unknown'}")
    return "".join(f'<p class="note">{e(line)}</p>' for line in lines)


def _problems(results: Results) -> list[str]:
    bad = [r for r in results.records if r.status != "ok"]
    parts = []
    if bad:
        parts += [
            "<h2>Failed and skipped cells</h2>",
            _table(
                ["model", "method", "task", "length", "status", "error"],
                [
                    [results.model_label(r), r.method_label, r.task, str(r.length), r.status, r.error or ""]
                    for r in bad
                ],
            ),
        ]
    wrong: list[list[str]] = []
    for r in results.records:
        if len(wrong) >= _WRONG_ANSWERS_SHOWN:
            break
        if r.status != "ok" or r.metrics.accuracy is None:
            continue
        for s in results.samples(r):
            if s.score is not None and s.score < 1 and len(wrong) < _WRONG_ANSWERS_SHOWN:
                depth = getattr(s, "depth", None)
                wrong.append(
                    [
                        results.model_label(r),
                        r.method_label,
                        r.task,
                        str(r.length),
                        f"{depth:.2f}" if isinstance(depth, float) else "",
                        str(getattr(s, "target", "")),
                        str(getattr(s, "output", "")),
                    ]
                )
    if wrong:
        parts += [
            f"<h2>Some wrong answers (first {_WRONG_ANSWERS_SHOWN})</h2>",
            _table(["model", "method", "task", "length", "depth", "target", "output"], wrong),
        ]
    return parts


def _superseded(results: Results) -> list[str]:
    if not results.superseded:
        return []
    return [
        "<h2>Superseded cells (an earlier version of the sweep)</h2>",
        _table(
            ["model", "method", "task", "length", "status", "cell id", "finished at"],
            [
                [
                    results.model_label(r),
                    r.method_label,
                    r.task,
                    str(r.length),
                    r.status,
                    r.cell_id,
                    r.finished_at,
                ]
                for r in results.superseded
            ],
        ),
    ]
