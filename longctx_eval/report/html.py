"""report.html: one self-contained page (pictures embedded as data URLs) that opens offline.

Everything that comes from a run — model output above all, but also names, errors and paths —
goes through `html.escape`: a model that writes `<script>` must not script the page.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from longctx_eval.report.plots import Figure
from longctx_eval.report.results import Results
from longctx_eval.report.summary import ReportOptions, all_series, leaderboard, plus_minus, tasks_in
from longctx_eval.report.tables import effective_text, lengths_of, notes

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
        f"<figcaption>{e(f.title)}</figcaption></figure>"
        for f in figures
    ]
    return '<div class="figures">' + "".join(items) + "</div>"


def render(results: Results, title: str, options: ReportOptions, figures: list[Figure]) -> str:
    tasks = tasks_in(results)
    shortest = min((int(r["length"]) for r in results.records), default=0)
    parts = [f"<h1>{e(title)}</h1>", _meta(results)]
    board = leaderboard(results, options)
    parts += [
        "<h2>Effective context length</h2>",
        _table(
            ["model", "method", "overall", *tasks],
            [
                [r.model, r.method_label, effective_text(r.overall, shortest)]
                + [effective_text(r.effective[t], shortest) if t in r.effective else "" for t in tasks]
                for r in board
            ],
        ),
        *(f'<p class="note">{e(n)}</p>' for n in notes(results, options)),
    ]
    for task in tasks:
        series = all_series(results, task)
        metric = series[0].metric
        lengths = lengths_of(series)
        rows, classes = [], []
        for s in series:
            texts = [plus_minus(p, metric) if (p := s.value_at(n)) else "" for n in lengths]
            rows.append([s.model, s.method_label, *texts])
            classes.append(["", "", *(t if t in ("fail", "skip") else "" for t in texts)])
        better = "higher is better" if metric == "accuracy" else "lower is better"
        parts += [
            f"<h2>{e(task)} — {e(metric)} ({e(better)})</h2>",
            _table(["model", "method", *map(str, lengths)], rows, classes),
            _figures([f for f in figures if f.task == task]),
        ]
    parts += ["<h2>Rotary frequencies</h2>", _figures([f for f in figures if f.kind == "rope"])]
    parts += _problems(results)
    body = "\n".join(p for p in parts if p)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n<script>{_IMAGE_CHECK}</script>\n</body></html>\n"
    )


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
    bad = [r for r in results.records if r["status"] != "ok"]
    parts = []
    if bad:
        parts += [
            "<h2>Failed and skipped cells</h2>",
            _table(
                ["model", "method", "task", "length", "status", "error"],
                [
                    [
                        results.model_label(r),
                        r["method_label"],
                        r["task"],
                        str(r["length"]),
                        r["status"],
                        r.get("error") or "",
                    ]
                    for r in bad
                ],
            ),
        ]
    wrong: list[list[str]] = []
    for r in results.records:
        if r["status"] != "ok" or "accuracy" not in (r.get("metrics") or {}):
            continue
        for s in results.samples(r):
            if s.get("score", 1) < 1 and len(wrong) < _WRONG_ANSWERS_SHOWN:
                depth = s.get("depth")
                wrong.append(
                    [
                        results.model_label(r),
                        r["method_label"],
                        r["task"],
                        str(r["length"]),
                        f"{depth:.2f}" if isinstance(depth, float) else "",
                        str(s.get("target", "")),
                        str(s.get("output", "")),
                    ]
                )
    if wrong:
        parts += [
            f"<h2>Some wrong answers (first {_WRONG_ANSWERS_SHOWN})</h2>",
            _table(["model", "method", "task", "length", "depth", "target", "output"], wrong),
        ]
    return parts
