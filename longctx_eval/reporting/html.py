"""report.html: a page that leads with the answer, with its pictures beside it.

Order (docs/report.md): the leaderboard (effective context length), then the accuracy (or
perplexity) against length of every task, then the detail folded in `<details>`: per-task value
tables and heatmaps, paired differences, scoring gaps, rotary frequencies, frequency usage, failed
cells. A table of contents leads; two selectors (or `report.html?model=M&task=T`) show one model or
task. Pictures above `EMBED_MAX_BYTES` are referenced from plots/ beside the page, not embedded,
so the page stays light at many cells; small ones (up to `EMBED_BUDGET_BYTES` in all) are embedded.

Everything that comes from a run — model output above all, but also names, errors and paths —
goes through `html.escape`: a model that writes `<script>` must not script the page.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from longctx_eval.reporting.cell_samples import WRONG_KEPT
from longctx_eval.reporting.plots import Figure
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.summary import Summary
from longctx_eval.reporting.table_model import Table as TableModel
from longctx_eval.reporting.table_model import leaderboard_table, task_table
from longctx_eval.reporting.tables import (
    GAP_NOTE,
    PAIRED_NOTE,
    gap_rows,
    heading,
    headline_lines,
    paired_sections,
    paired_tables,
)

_WRONG_ANSWERS_SHOWN = 12
EMBED_MAX_BYTES = 12_000  # a picture larger than this is linked from plots/, not embedded
EMBED_BUDGET_BYTES = 1_000_000  # embedded pictures in all: beyond it every picture is linked

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
th { background: #f4f4f4; }
td.fail { color: #b00; } td.skip { color: #a60; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.8em; color: #555; max-width: 640px; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.85em; text-align: left; }
nav.toc { font-size: 0.9em; border: 1px solid #ddd; padding: 0.5em 1em; margin: 1em 0; }
nav.toc ul { margin: 0.2em 0; padding-left: 1.2em; }
.filter { font-size: 0.9em; margin: 0.5em 0 1em; }
details { margin: 0.5em 0 1em; } summary { cursor: pointer; font-weight: 600; }
[hidden] { display: none !important; }
"""

# Lets a browser test (and a reader's devtools) see that every picture decoded; then applies the
# model/task filter from the selectors or from the address (?model=M&task=T).
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-images-loaded", String(ok));
});
function longctxFilter() {
  var want = {};
  document.querySelectorAll("select[data-filter]").forEach(function (s) {
    if (s.value) { want[s.getAttribute("data-filter")] = s.value; }
  });
  ["model", "task"].forEach(function (key) {
    document.querySelectorAll("[data-" + key + "]").forEach(function (el) {
      if (el.tagName === "SELECT") { return; }
      var other = key === "model" ? "task" : "model";
      var hide = false;
      [key, other].forEach(function (k) {
        var v = el.getAttribute("data-" + k);
        if (v !== null && want[k] && v !== want[k]) { hide = true; }
      });
      el.hidden = hide;
    });
  });
  document.body.setAttribute("data-filter", JSON.stringify(want));
}
document.addEventListener("DOMContentLoaded", function () {
  var params = new URLSearchParams(window.location.search);
  document.querySelectorAll("select[data-filter]").forEach(function (s) {
    var v = params.get(s.getAttribute("data-filter"));
    if (v !== null) { s.value = v; }
    s.addEventListener("change", longctxFilter);
  });
  longctxFilter();
});
"""


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts)).strip("-").lower() or "section"


def _attrs(model: str | None = None, task: str | None = None) -> str:
    out = ""
    if model is not None:
        out += f' data-model="{e(model)}"'
    if task is not None:
        out += f' data-task="{e(task)}"'
    return out


def _table(
    header: list[str],
    rows: list[list[str]],
    classes: list[list[str]] | None = None,
    models: Sequence[str | None] | None = None,
    tasks: Sequence[str | None] | None = None,
) -> str:
    """A table; `models` / `tasks` tag each row for the page's filter."""
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            cls = classes[i][j] if classes else ""
            cells.append(f'<td class="{e(cls)}">{e(c)}</td>' if cls else f"<td>{e(c)}</td>")
        tags = _attrs(models[i] if models else None, tasks[i] if tasks else None)
        out.append(f"<tr{tags}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _model_table(table: TableModel) -> str:
    """A table of the report's table model (tables render the same columns everywhere), after
    its caption: what its numbers are comparable to."""
    caption = f'<p class="protocol">{e(table.caption)}</p>' if table.caption else ""
    return caption + _table(
        table.names,
        table.texts(),
        [[c.mark for c in row] for row in table.rows],
        models=table.models,
        tasks=table.tasks or None,
    )


class _Pictures:
    """Where each picture's `src` points: embedded when small (within a budget), else plots/."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.embedded = 0

    def src(self, f: Figure) -> str:
        small = len(f.png) <= EMBED_MAX_BYTES and self.embedded + len(f.png) <= EMBED_BUDGET_BYTES
        if self.directory is None or small:
            self.embedded += len(f.png)
            return "data:image/png;base64," + base64.b64encode(f.png).decode()
        return f"{self.directory}/{f.name}.png"


def _figures(figures: list[Figure], pictures: _Pictures) -> str:
    if not figures:
        return ""
    items = []
    for f in figures:
        colours = e(json.dumps(f.colors, sort_keys=True)) if f.colors else ""
        items.append(
            f'<figure data-kind="{e(f.kind)}"{_attrs(f.model, f.task)}'
            + (f' data-colors="{colours}"' if colours else "")
            + f'><img alt="{e(f.title)}" src="{e(pictures.src(f))}">'
            f"<figcaption>{e(f.caption or f.title)}</figcaption></figure>"
        )
    return '<div class="figures">' + "".join(items) + "</div>"


def _folded(
    title: str, body: Iterable[str], anchor: str, task: str | None = None, open_: bool = False
) -> str:
    inner = "\n".join(p for p in body if p)
    if not inner:
        return ""
    return (
        f'<details id="{e(anchor)}"{_attrs(task=task)}{" open" if open_ else ""}>'
        f"<summary>{e(title)}</summary>\n{inner}\n</details>"
    )


def _toc(entries: list[tuple[str, str, int]]) -> str:
    """(anchor, title, level): level 1 under the page, 2 under the entry before."""
    out, open_sub = ['<nav class="toc"><strong>Contents</strong><ul>'], False
    for anchor, title, level in entries:
        if level == 2 and not open_sub:
            out.append("<ul>")
            open_sub = True
        elif level == 1 and open_sub:
            out.append("</ul></li>")
            open_sub = False
        elif level == 1 and len(out) > 1:
            out.append("</li>")
        out.append(f'<li><a href="#{e(anchor)}">{e(title)}</a>' + ("</li>" if level == 2 else ""))
    out.append("</ul></li></ul></nav>" if open_sub else "</li></ul></nav>")
    return "".join(out)


def _filter(models: list[str], tasks: list[str]) -> str:
    def select(key: str, values: list[str]) -> str:
        options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in ["", *values])
        options = options.replace('value=""></option>', 'value="">all</option>', 1)
        return f'<label>{key} <select data-filter="{key}">{options}</select></label>'

    return f'<div class="filter">Show one: {select("model", models)} {select("task", tasks)}</div>'


def render(
    summary: Summary,
    results: Results,
    figures: list[Figure],
    show_superseded: bool = False,
    picture_dir: str | None = "plots",
) -> str:
    """The page. `picture_dir`: where the pictures are, relative to the page (None: embed all)."""
    pictures = _Pictures(picture_dir)
    title = summary.title
    models = list(dict.fromkeys(r.model for r in summary.leaderboard))
    toc: list[tuple[str, str, int]] = [("headline", "Effective context length", 1)]
    head = [
        '<h2 id="headline">Effective context length</h2>',
        _model_table(leaderboard_table(summary)),
        *(f'<p class="note">{e(n)}</p>' for n in summary.notes),
    ]

    # The curves answer the question: accuracy tasks first, then perplexity, then the rest.
    curve_kinds = ("accuracy", "perplexity", "perplexity_relative")
    order = sorted(summary.tables, key=lambda t: t.metric != "accuracy")
    curves = ['<h2 id="curves">Accuracy (and perplexity) against length</h2>']
    toc.append(("curves", "Accuracy (and perplexity) against length", 1))
    for table in order:
        shown = [f for f in figures if f.task == table.task and f.kind in curve_kinds]
        if shown:
            anchor = _anchor("curves", table.task)
            curves += [
                f'<h3 id="{e(anchor)}"{_attrs(task=table.task)}>{e(table.task)}</h3>',
                _figures(shown, pictures),
            ]
            toc.append((anchor, table.task, 2))
    details = ['<h2 id="details">Details</h2>']
    toc.append(("details", "Details", 1))
    for table in summary.tables:
        rest = [f for f in figures if f.task == table.task and f.kind not in curve_kinds]
        anchor = _anchor("table", table.task)
        details.append(
            _folded(
                heading(table),
                [
                    _model_table(task_table(table, heading(table))),
                    _figures(rest, pictures),
                ],
                anchor,
                task=table.task,
            )
        )
        toc.append((anchor, heading(table), 2))
    for anchor, text, section in _detail_sections(summary, results, figures, pictures, show_superseded):
        folded = _folded(text, section, anchor)
        if folded:
            details.append(folded)
            toc.append((anchor, text, 2))
    body = "\n".join(
        p
        for p in [
            f"<h1>{e(title)}</h1>",
            # The answer in words, generated from the data (tables.headline_lines), before anything.
            '<section class="headline">'
            + "".join(f"<p>{e(t)}</p>" for t in headline_lines(summary))
            + "</section>",
            _toc(toc),
            _filter(models, summary.tasks),
            *head,
            *curves,
            *details,
            _meta(results),
        ]
        if p
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _detail_sections(
    summary: Summary, results: Results, figures: list[Figure], pictures: _Pictures, show_superseded: bool
) -> list[tuple[str, str, list[str]]]:
    """(anchor, title, body) of each folded section after the per-task tables."""
    out = [("paired-" + _anchor(h), h, body) for h, body in _paired(summary)]
    out.append(("gaps", "Lenient minus strict", _gaps(summary)))
    out.append(("rope", "Rotary frequencies", [_figures([f for f in figures if f.kind == "rope"], pictures)]))
    usage = [f for f in figures if f.kind == "usage"]
    if usage:
        note = (
            '<p class="note">Which rotary pairs the model uses and what each method does to them '
            '(Barbero et al. 2024, "Round and Round We Go!"), from the analysis task; the numbers are '
            "in leaderboard.json under usage.</p>"
        )
        out.append(("usage", "Frequency usage", [note, _figures(usage, pictures)]))
    out.append(("failed", "Failed and skipped cells", _failed(results)))
    out.append(
        (
            "wrong",
            f"Some wrong answers (the first {_WRONG_ANSWERS_SHOWN}, up to {WRONG_KEPT} a cell)",
            _wrong(results),
        )
    )
    if show_superseded:
        out.append(("superseded", "Superseded cells (an earlier version of the sweep)", _superseded(results)))
    return out


def _paired(summary: Summary) -> list[tuple[str, list[str]]]:
    out = []
    for heading_text, diffs in paired_sections(summary):
        parts = [f'<p class="note">{e(PAIRED_NOTE)}</p>']
        for task, lengths, rows in paired_tables(diffs, summary.tasks):
            parts += [
                f"<h3{_attrs(task=task)}>{e(task)}</h3>",
                _table(["model", "method", *map(str, lengths)], rows, models=[r[0] for r in rows]),
            ]
        out.append((heading_text, parts))
    return out


def _gaps(summary: Summary) -> list[str]:
    if not summary.scoring_gaps:
        return []
    lengths, rows = gap_rows(summary)
    return [
        f'<p class="note">{e(GAP_NOTE)}</p>',
        _table(
            ["model", "task", "method", *map(str, lengths)],
            [[m, t, label, *(cells.get(n, "") for n in lengths)] for (m, t, label), cells in rows.items()],
            models=[m for m, _, _ in rows],
            tasks=[t for _, t, _ in rows],
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


def _failed(results: Results) -> list[str]:
    bad = [r for r in results.records if r.status != "ok"]
    if not bad:
        return []
    return [
        _table(
            ["model", "method", "task", "length", "status", "error"],
            [
                [results.model_label(r), r.method_label, r.task, str(r.length), r.status, r.error or ""]
                for r in bad
            ],
            models=[results.model_label(r) for r in bad],
            tasks=[r.task for r in bad],
        )
    ]


def _wrong(results: Results) -> list[str]:
    wrong: list[list[str]] = []
    for r in results.records:
        if len(wrong) >= _WRONG_ANSWERS_SHOWN:
            break
        if r.status != "ok" or r.metrics.accuracy is None:
            continue
        for w in results.cell_samples(r).wrong[: _WRONG_ANSWERS_SHOWN - len(wrong)]:
            depth = f"{w.depth:.2f}" if w.depth is not None else ""
            wrong.append(
                [results.model_label(r), r.method_label, r.task, str(r.length), depth, w.target, w.output]
            )
    if not wrong:
        return []
    return [
        _table(
            ["model", "method", "task", "length", "depth", "target", "output"],
            wrong,
            models=[w[0] for w in wrong],
            tasks=[w[2] for w in wrong],
        )
    ]


def _superseded(results: Results) -> list[str]:
    if not results.superseded:
        return []
    return [
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
