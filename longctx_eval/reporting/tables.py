"""The summary as Markdown and LaTeX, and the records as CSV.

Everything that comes from a run (names, labels, errors) is escaped for the format it goes into:
Markdown table cells cannot break out of their cell, LaTeX cannot run a command, and a CSV cell
cannot start a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from longctx_eval.reporting.paired import PairedDiff
from longctx_eval.reporting.results import Results, cell_row
from longctx_eval.reporting.summary import Summary, TaskTable
from longctx_eval.reporting.table_model import Table, leaderboard_table, task_table

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


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def md_escape(text: str) -> str:
    """A Markdown table cell: no line breaks, no cell separators, no HTML tag (a bare '< 256' stays)."""
    flat = " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")
    return _TAG_START.sub("&lt;", flat)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(md_escape(c) for c in cells) + " |"


def headline_lines(summary: Summary) -> list[str]:
    """The generated sentences and the warnings: what the top of every rendering says first."""
    return [*summary.sentences, *(f"Warning: {w}." for w in summary.warnings)]


def headline_caption(summary: Summary) -> str:
    tasks = ", ".join(summary.headline.tasks or ())
    return (
        f"Headline @length: mean accuracy of {tasks} [95% interval: MOVER over each task's Wilson "
        "interval]. Rank, among the rows of one model: 1 + the rows certainly ahead, to the rows "
        "count − those certainly behind. A row is certainly ahead where a paired test of the headline "
        "means on the same samples (exact McNemar on the pooled discordant pairs for 0/1 scores) is "
        "below 0.05 after Holm's adjustment over all comparisons of that model's rows and lengths "
        f"({len(summary.headline_comparisons)} in all), and never the other way, or where its "
        "effective-length range lies wholly above the other's. A row tested on fewer of the headline's "
        "tasks is noted and ranked below those tested on more."
    )


def markdown(summary: Summary) -> str:
    lines = [f"# {md_escape(summary.title)}", ""]
    for sentence in headline_lines(summary):
        lines += [md_escape(sentence), ""]
    lines += _md_table(leaderboard_table(summary), "##")
    lines += [f"_{md_escape(headline_caption(summary))}_", ""]
    for table in summary.tables:
        lines += _md_task_table(table)
    lines += _md_paired(summary)
    lines += _md_gaps(summary)
    lines += [f"_{md_escape(n)}_" for n in summary.notes]
    return "\n".join(lines) + "\n"


def heading(table: TaskTable) -> str:
    better = "higher is better" if table.higher_is_better else "lower is better"
    what = f"mean accuracy of {', '.join(table.members)}" if table.members else table.metric
    return f"{table.task} — {what} ({better})"


def _md_task_table(table: TaskTable) -> list[str]:
    return _md_table(task_table(table, heading(table)), "##")


def _md_table(table: Table, level: str) -> list[str]:
    """A table model as Markdown, under a heading of `level`."""
    lines = [f"{level} {md_escape(table.title)}", ""]
    if table.caption:
        lines += [f"_{md_escape(table.caption)}_", ""]
    lines.append(_md_row(table.names))
    lines.append("|" + "".join("---:|" if c.align == "right" else "---|" for c in table.columns))
    lines += [_md_row(texts) for texts in table.texts()]
    return [*lines, ""]


PAIRED_NOTE = (
    "Accuracy: method − reference on the same samples; perplexity: method / reference on the same "
    "documents; [paired 95% interval: exact conditional (Clopper–Pearson on the discordant pairs) for "
    "0/1 scores, which agrees with the exact McNemar test; paired percentile bootstrap otherwise]. "
    "* where the p-value (exact McNemar for 0/1 scores, paired sign-flip randomisation otherwise) is "
    "below 0.05 after Holm's adjustment over the comparisons of its table (one task); leaderboard.json "
    "keeps the unadjusted p-value beside the adjusted one."
)


def paired_tables(diffs: list[PairedDiff], tasks: list[str]) -> list[tuple[str, list[int], list[list[str]]]]:
    """Per task: (task, lengths, rows of [model, method, cell per length]) of paired differences."""
    out = []
    for task in tasks:
        mine = [d for d in diffs if d.task == task]
        if not mine:
            continue
        lengths = sorted({d.length for d in mine})
        rows: dict[tuple[str, str, str], dict[int, str]] = {}
        for d in mine:
            rows.setdefault((d.model, d.method_label, d.against), {})[d.length] = d.text()
        out.append(
            (
                task,
                lengths,
                [[m, label, *(cells.get(n, "") for n in lengths)] for (m, label, _), cells in rows.items()],
            )
        )
    return out


def paired_sections(summary: Summary) -> list[tuple[str, list[PairedDiff]]]:
    """(heading, differences): against the reference method, and across models (compare)."""
    out = []
    if summary.paired:
        out.append((f"Paired differences against {summary.options.against}", summary.paired))
    if summary.paired_across:
        first = summary.paired_across[0].against.rsplit(" ", 1)[0]
        out.append((f"Paired differences against {first} (same method, same samples)", summary.paired_across))
    return out


def _md_paired(summary: Summary) -> list[str]:
    lines: list[str] = []
    for heading_text, diffs in paired_sections(summary):
        lines += [f"## {md_escape(heading_text)}", "", PAIRED_NOTE, ""]
        for task, lengths, rows in paired_tables(diffs, summary.tasks):
            lines += [f"### {md_escape(task)}", "", _md_row(["model", "method", *map(str, lengths)])]
            lines.append("|---|---|" + "---:|" * len(lengths))
            lines += [_md_row(row) for row in rows]
            lines.append("")
    return lines


def gap_rows(summary: Summary) -> tuple[list[int], dict[tuple[str, str, str], dict[int, str]]]:
    """Lengths, and (model, task, method) -> {length: 'lenient − strict'} for the cells that differ."""
    lengths = sorted({g.length for g in summary.scoring_gaps})
    rows: dict[tuple[str, str, str], dict[int, str]] = {}
    for g in summary.scoring_gaps:
        rows.setdefault((g.model, g.task, g.method_label), {})[g.length] = (
            f"{g.gap:+.2f} ({g.strict:.2f} → {g.lenient:.2f})"
        )
    return lengths, rows


GAP_NOTE = (
    "Lenient minus strict accuracy, where they differ (strict → lenient): the model answered the "
    "target with something around it, usually extra digits, which only the lenient rule counts."
)


def _md_gaps(summary: Summary) -> list[str]:
    if not summary.scoring_gaps:
        return []
    lengths, rows = gap_rows(summary)
    lines = [
        "## Lenient minus strict",
        "",
        GAP_NOTE,
        "",
        _md_row(["model", "task", "method", *map(str, lengths)]),
    ]
    lines.append("|---|---|---|" + "---:|" * len(lengths))
    for (model, task, method), cells in rows.items():
        lines.append(_md_row([model, task, method, *(cells.get(n, "") for n in lengths)]))
    return [*lines, ""]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell; text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(results: Results) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in results.records:
        writer.writerow({k: csv_cell(v) for k, v in cell_row(r).items()})
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
    """LaTeX text: special characters escaped, line breaks folded (a newline must not start a
    line of its own: `\\immediate\\write18` there would run)."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in " ".join(str(text).split()))


def _tex_value(text: str) -> str:
    return tex_escape(text).replace("–", "--")


def latex(summary: Summary) -> str:
    """booktabs tables: the effective lengths, then one table per task."""
    out = ["% longctx-eval leaderboard (needs \\usepackage{booktabs})"]
    for table in [leaderboard_table(summary), *(task_table(t, heading(t)) for t in summary.tables)]:
        out += [
            f"% {tex_escape(table.title)}",
            *([f"% {tex_escape(table.caption)}"] if table.caption else []),
            r"\begin{tabular}{" + "".join("l" if c.align == "left" else "r" for c in table.columns) + "}",
            r"\toprule",
            " & ".join(tex_escape(n) for n in table.names) + r" \\",
            r"\midrule",
            *(" & ".join(_tex_value(c) for c in texts) + r" \\" for texts in table.texts()),
            r"\bottomrule",
            r"\end{tabular}",
            "",
        ]
    return "\n".join(out)
