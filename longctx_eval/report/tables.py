"""The leaderboard as Markdown, CSV and LaTeX."""

from __future__ import annotations

import csv
import io
from typing import Any

from longctx_eval.report.results import Results, backend_kind
from longctx_eval.report.summary import ReportOptions, Series, all_series, leaderboard, plus_minus, tasks_in

CSV_COLUMNS = [
    "model",
    "method",
    "method_label",
    "factor",
    "factor_mode",
    "task",
    "length",
    "status",
    "accuracy",
    "n",
    "ci_low",
    "ci_high",
    "ppl",
    "nll",
    "n_tokens",
    "n_documents",
    "error",
    "duration_s",
    "backend",
    "cell_id",
]


def lengths_of(series: list[Series]) -> list[int]:
    return sorted({p.length for s in series for p in s.points})


def effective_text(n: int, shortest: int) -> str:
    return f"< {shortest}" if n == 0 else str(n)


def notes(results: Results, options: ReportOptions) -> list[str]:
    out = [
        "Effective length: the longest length at which the score passes there and at every shorter "
        f"length (accuracy ≥ {options.threshold:g}; perplexity ≤ {options.ppl_multiple:g}× the model's "
        "native-length value). Overall: the shortest over the tasks. ± is half the 95% interval "
        "(Wilson for accuracy, bootstrap over documents for perplexity)."
    ]
    if any(r["method"] == "dynamic_ntk" for r in results.records):
        out.append(
            "dynamic_ntk numbers are backend-specific: transformers (hf) recomputes the frequencies at "
            "every forward pass from the current length, vLLM uses one static scale for every request."
        )
    return out


def markdown(results: Results, title: str, options: ReportOptions) -> str:
    lines = [f"# {title}", ""]
    tasks = tasks_in(results)
    shortest = min((int(r["length"]) for r in results.records), default=0)
    lines += ["## Effective context length", ""]
    lines.append("| model | method | overall | " + " | ".join(tasks) + " |")
    lines.append("|---|---|---:|" + "---:|" * len(tasks))
    for row in leaderboard(results, options):
        cells = [effective_text(row.effective[t], shortest) if t in row.effective else "" for t in tasks]
        lines.append(
            f"| {row.model} | {row.method_label} | {effective_text(row.overall, shortest)} | "
            + " | ".join(cells)
            + " |"
        )
    lines.append("")
    for task in tasks:
        series = all_series(results, task)
        metric = series[0].metric
        better = "higher is better" if metric == "accuracy" else "lower is better"
        lengths = lengths_of(series)
        lines += [f"## {task} — {metric} ({better})", ""]
        lines.append("| model | method | " + " | ".join(str(n) for n in lengths) + " |")
        lines.append("|---|---|" + "---:|" * len(lengths))
        for s in series:
            cells = [plus_minus(p, metric) if (p := s.value_at(n)) else "" for n in lengths]
            lines.append(f"| {s.model} | {s.method_label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"_{n}_" for n in notes(results, options)]
    return "\n".join(lines) + "\n"


def csv_text(results: Results) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in results.records:
        metrics = r.get("metrics") or {}
        row: dict[str, Any] = {k: r.get(k) for k in CSV_COLUMNS}
        row.update({k: metrics.get(k) for k in CSV_COLUMNS if k in metrics})
        row["backend"] = backend_kind(r)
        writer.writerow(row)
    return buf.getvalue()


_TEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


def latex(results: Results, options: ReportOptions) -> str:
    """booktabs tables: the effective lengths, then one table per task."""
    tasks = tasks_in(results)
    shortest = min((int(r["length"]) for r in results.records), default=0)
    out = [
        "% longctx-eval leaderboard (needs \\usepackage{booktabs})",
        r"\begin{tabular}{ll" + "r" * (len(tasks) + 1) + "}",
        r"\toprule",
    ]
    out.append("model & method & overall & " + " & ".join(tex_escape(t) for t in tasks) + r" \\")
    out.append(r"\midrule")
    for row in leaderboard(results, options):
        cells = [effective_text(row.effective.get(t, 0), shortest) for t in tasks]
        out.append(
            " & ".join(
                tex_escape(c)
                for c in [row.model, row.method_label, effective_text(row.overall, shortest), *cells]
            )
            + r" \\"
        )
    out += [r"\bottomrule", r"\end{tabular}", ""]
    for task in tasks:
        series = all_series(results, task)
        lengths = lengths_of(series)
        metric = series[0].metric
        out += [f"% {task}: {metric}", r"\begin{tabular}{ll" + "r" * len(lengths) + "}", r"\toprule"]
        out.append("model & method & " + " & ".join(str(n) for n in lengths) + r" \\")
        out.append(r"\midrule")
        for s in series:
            cells = [
                plus_minus(p, metric).replace("±", r"$\pm$") if (p := s.value_at(n)) else "" for n in lengths
            ]
            out.append(" & ".join([tex_escape(s.model), tex_escape(s.method_label), *cells]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)
